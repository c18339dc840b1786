package testenv_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/learecordshop/recordshop/dal/pg"
	"github.com/learecordshop/recordshop/dal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func TestPGDatabasesAreMigratedAndIsolated(t *testing.T) {
	ctx := t.Context()
	a, b := testenv.PG(t), testenv.PG(t)

	wantTables := []string{"customers", "discs", "orders", "stock_events"}
	for name, pool := range map[string]*pgxpool.Pool{"a": a, "b": b} {
		if diff := cmp.Diff(wantTables, tables(t, pool, wantTables)); diff != "" {
			t.Errorf("tables in database %s (-want +got):\n%s", name, diff)
		}
	}

	_, err := a.Exec(ctx, `INSERT INTO customers (document, name, email, birth_date)
		VALUES ('12345678901', 'Ana', 'ana@example.com', '1990-01-02')`)
	if err != nil {
		t.Fatalf("insert into a: %v", err)
	}
	if got := count(t, a, "customers"); got != 1 {
		t.Errorf("customers in a = %d, want 1", got)
	}
	if got := count(t, b, "customers"); got != 0 {
		t.Errorf("customers in b = %d, want 0: the row inserted in a leaked into b", got)
	}
}

func TestPGURLIsItsOwnDatabase(t *testing.T) {
	ctx := t.Context()
	pool, err := pg.Connect(ctx, testenv.PGURL(t))
	if err != nil {
		t.Fatalf("connect to PGURL: %v", err)
	}
	defer pool.Close()
	other := testenv.PG(t)
	if a, b := currentDatabase(t, pool), currentDatabase(t, other); a == b {
		t.Errorf("PGURL and PG share database %q", a)
	}
	if got := count(t, pool, "discs"); got != 0 {
		t.Errorf("discs = %d in a fresh database, want 0", got)
	}
}

func TestPGInParallelTests(t *testing.T) {
	for i := range 6 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			pool := testenv.PG(t)
			_, err := pool.Exec(t.Context(), `INSERT INTO discs (name, artist, release_year, style, price_cents, stock)
				VALUES ('Kind of Blue', 'Miles Davis', 1959, 'jazz', 4990, 3)`)
			if err != nil {
				t.Fatalf("insert: %v", err)
			}
			if got := count(t, pool, "discs"); got != 1 {
				t.Errorf("discs = %d, want 1 (only this test's row)", got)
			}
		})
	}
}

func TestRedisPrefixesDifferAndCleanupRemovesKeys(t *testing.T) {
	ctx := t.Context()
	outer, outerPrefix := testenv.Redis(t)
	keep := outerPrefix + "keep"
	if err := outer.Set(ctx, keep, "1", 0).Err(); err != nil {
		t.Fatalf("set %s: %v", keep, err)
	}

	var innerPrefix string
	const n = 2500 // more than one SCAN page of the cleanup
	t.Run("writes keys", func(t *testing.T) {
		client, prefix := testenv.Redis(t)
		_, other := testenv.Redis(t)
		if prefix == other || prefix == outerPrefix {
			t.Fatalf("prefixes repeat: %q, %q, %q", prefix, other, outerPrefix)
		}
		innerPrefix = prefix
		_, err := client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := range n {
				p.Set(ctx, fmt.Sprintf("%sk%d", prefix, i), i, 0)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("write keys: %v", err)
		}
		if got := keysUnder(t, client, prefix); got != n {
			t.Fatalf("keys under %s = %d, want %d", prefix, got, n)
		}
	})
	if innerPrefix == "" {
		t.Fatal("subtest did not run")
	}

	if got := keysUnder(t, outer, innerPrefix); got != 0 {
		t.Errorf("keys under %s after its test ended = %d, want 0", innerPrefix, got)
	}
	if err := outer.Get(ctx, keep).Err(); err != nil {
		t.Errorf("get %s: %v; the subtest's cleanup must not touch other prefixes", keep, err)
	}
}

func TestStackRestartKeepsData(t *testing.T) {
	stack := testenv.Stack(t)
	ctx := t.Context()

	client, prefix := testenv.Redis(t)
	if err := client.Set(ctx, prefix+"k", "v", 0).Err(); err != nil {
		t.Fatalf("set: %v", err)
	}
	// RestartRedis kills like a crash, and with appendfsync everysec a write may still sit in Redis's AOF buffer
	// (it postpones the write while a background fsync runs), so wait until it has reached the file.
	waitAOFWritten(t, client)
	if err := stack.RestartRedis(ctx); err != nil {
		t.Fatalf("restart redis: %v", err)
	}
	if got, err := client.Get(ctx, prefix+"k").Result(); err != nil || got != "v" {
		t.Errorf("after restart get = %q, %v; want \"v\" from the AOF", got, err)
	}

	pool := testenv.PG(t)
	if _, err := pool.Exec(ctx, `INSERT INTO discs (name, artist, release_year, style, price_cents, stock)
		VALUES ('Blue Train', 'John Coltrane', 1957, 'jazz', 3990, 1)`); err != nil {
		t.Fatalf("insert: %v", err)
	}
	if err := stack.RestartPostgres(ctx); err != nil {
		t.Fatalf("restart postgres: %v", err)
	}
	// The pool's connections died with the server; the next one it opens must see the committed row.
	pool.Reset()
	if got := count(t, pool, "discs"); got != 1 {
		t.Errorf("discs after restart = %d, want 1", got)
	}
	// New databases still come from the template after the restart.
	if got := count(t, testenv.PG(t), "discs"); got != 0 {
		t.Errorf("discs in a database made after the restart = %d, want 0", got)
	}
}

// waitAOFWritten waits until the AOF buffer is empty, i.e. every acknowledged write has been handed to the
// kernel and survives the death of the process.
func waitAOFWritten(t *testing.T, client redis.UniversalClient) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, "the AOF buffer was never written", func() (bool, string) {
		info, err := client.Info(t.Context(), "persistence").Result()
		if err != nil {
			t.Fatalf("info persistence: %v", err)
		}
		if !strings.Contains(info, "aof_enabled:1") {
			t.Fatalf("the devstack runs Redis without AOF:\n%s", info)
		}
		return strings.Contains(info, "aof_buffer_length:0\r\n"), info
	})
}

func tables(t *testing.T, pool *pgxpool.Pool, names []string) []string {
	t.Helper()
	rows, err := pool.Query(t.Context(), `SELECT table_name::text FROM information_schema.tables
		WHERE table_schema = 'public' AND table_name = ANY($1) ORDER BY table_name`, names)
	if err != nil {
		t.Fatalf("list tables: %v", err)
	}
	var got []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatalf("scan table name: %v", err)
		}
		got = append(got, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("list tables: %v", err)
	}
	return got
}

func count(t *testing.T, pool *pgxpool.Pool, table string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(t.Context(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func currentDatabase(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var name string
	if err := pool.QueryRow(t.Context(), "SELECT current_database()").Scan(&name); err != nil {
		t.Fatalf("current_database: %v", err)
	}
	return name
}

func keysUnder(t *testing.T, client redis.UniversalClient, prefix string) int {
	t.Helper()
	keys, err := testenv.Keys(context.Background(), client, prefix)
	if err != nil {
		t.Fatal(err)
	}
	return len(keys)
}
