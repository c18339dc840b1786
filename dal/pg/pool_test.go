package pg_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/dal/pg"
	"github.com/learecordshop/recordshop/dal/testenv"
)

// withParam adds a runtime parameter to a Postgres URL or keyword/value DSN.
func withParam(dsn, key, value string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		return dsn + sep + key + "=" + value
	}
	return dsn + " " + key + "=" + value
}

// TestPoolStatementTimeout checks that every pool runs its statements under a server-side statement_timeout,
// that the URL can set another, and that a statement it cancels is a retryable unavailability (503), not a 500.
func TestPoolStatementTimeout(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.PGURL(t)
	show := func(t *testing.T, dsn string) string {
		t.Helper()
		pool, err := pg.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		var v string
		if err := pool.QueryRow(ctx, `SHOW statement_timeout`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if got := show(t, dsn); got != "10s" {
		t.Errorf("statement_timeout = %q by default; want 10s", got)
	}
	if got := show(t, withParam(dsn, "statement_timeout", "250ms")); got != "250ms" {
		t.Errorf("statement_timeout = %q with statement_timeout=250ms in the URL; want 250ms", got)
	}

	// A statement waiting on a lock longer than the timeout is cancelled by Postgres. Only that statement runs
	// under the short timeout: on a loaded machine the set-up itself may take longer than 200 ms.
	holder, err := pg.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	c, err := pg.NewCustomers(holder).Create(ctx, newCustomer(900))
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pg.Connect(ctx, withParam(dsn, "statement_timeout", "200ms"))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	repo := pg.NewCustomers(pool)
	tx, err := holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `SELECT 1 FROM customers WHERE id = $1 FOR UPDATE`, c.ID); err != nil {
		t.Fatal(err)
	}
	name := "Renamed"
	_, err = repo.Update(ctx, c.ID, model.CustomerPatch{Name: &name})
	if !errors.Is(err, model.ErrUnavailable) {
		t.Fatalf("an update held past statement_timeout returned %v; want model.ErrUnavailable (503 + Retry-After)", err)
	}
}
