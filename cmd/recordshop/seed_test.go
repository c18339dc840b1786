package main

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/dal/devstack"
	"github.com/learecordshop/recordshop/dal/pg"
)

// seedPostgres starts a Postgres of the test's own (a devstack, as the fault tests do) and returns its URL.
func seedPostgres(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts its own Postgres; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stack, err := devstack.Start(ctx, devstack.Options{})
	if err != nil {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatalf("needs a local Postgres: %v", err)
		}
		t.Skipf("needs a local Postgres: %v", err)
	}
	t.Cleanup(func() {
		if err := stack.Stop(); err != nil {
			t.Errorf("stop devstack: %v", err)
		}
	})
	return stack.PGURL
}

// TestSeedCustomers runs `recordshop seed --customers N` as a bench user does: the generated customers are
// valid sign-ups with distinct CPFs and emails, ids 1..N (and the demo customers') exist afterwards, and
// running it again adds nothing and takes no ids, while a larger N adds only the difference.
func TestSeedCustomers(t *testing.T) {
	pgURL := seedPostgres(t)
	ctx := context.Background()
	seed := func(n int) string {
		t.Helper()
		var stdout, stderr strings.Builder
		if err := run(ctx, []string{"seed", "--customers", strconv.Itoa(n)}, env(map[string]string{"RS_PG_URL": pgURL}), &stdout, &stderr); err != nil {
			t.Fatalf("seed --customers %d: %v\n%s%s", n, err, stdout.String(), stderr.String())
		}
		return stdout.String()
	}
	pool, err := pg.Connect(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	type state struct{ count, distinctDocs, distinctEmails, maxID, lastIdentity int64 }
	read := func() state {
		t.Helper()
		var s state
		err := pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT document), count(DISTINCT email), coalesce(max(id), 0),
			(SELECT last_value FROM pg_sequences WHERE sequencename = 'customers_id_seq')
			FROM customers`).Scan(&s.count, &s.distinctDocs, &s.distinctEmails, &s.maxID, &s.lastIdentity)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	demo := int64(len(demoCustomers()))

	out := seed(2000)
	first := read()
	if want := (state{2000 + demo, 2000 + demo, 2000 + demo, 2000 + demo, 2000 + demo}); first != want {
		t.Fatalf("after seed --customers 2000: %+v; want %+v (ids 1..%d, all distinct)", first, want, want.maxID)
	}
	if !strings.Contains(out, "2000 added, 0 there already") || !strings.Contains(out, "customers 1..2010 exist") {
		t.Errorf("seed said %q; want the number added and the id range", out)
	}

	// Every generated customer is a valid sign-up, as POST /v1/customers would check it.
	rows, err := pool.Query(ctx, `SELECT document, name, email, phone, to_char(birth_date, 'YYYY-MM-DD') FROM customers WHERE email LIKE 'buyer-%'`)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := pgx.CollectRows(rows, pgx.RowToStructByPos[model.CustomerCreate])
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 2000 {
		t.Fatalf("%d generated customers stored; want 2000", len(stored))
	}
	for _, c := range stored {
		checked := c
		if err := checked.Validate(time.Now()); err != nil || checked != c {
			t.Fatalf("generated customer %+v: %v (normalised: %+v)", c, err, checked)
		}
	}

	if out := seed(2000); !strings.Contains(out, ": 0 added, 2000 there already") {
		t.Errorf("the second run said %q; want 0 added", out)
	}
	if again := read(); again != first {
		t.Fatalf("the second run changed the customers: %+v, was %+v (a taken identity value shows in lastIdentity)", again, first)
	}

	seed(2500)
	if grown, want := read(), 2500+demo; grown.count != want || grown.maxID != want || grown.distinctDocs != want || grown.distinctEmails != want {
		t.Fatalf("after seed --customers 2500: %+v; want %d customers, ids 1..%d", grown, want, want)
	}
}
