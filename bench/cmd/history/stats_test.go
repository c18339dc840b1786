package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A statement the timeout cancels is missing from pg_stat_statements; the report names it from the server
// log, and must find it among the other lines of a busy log.
func TestTimedOutSince(t *testing.T) {
	log := "2026-12-01 21:05:40.100 UTC [4242] LOG:  duration: 0.2 ms  plan:\n" +
		"\tQuery Text: SELECT 1\n" +
		"2026-12-01 21:05:48.001 UTC [777] ERROR:  canceling statement due to statement timeout\n" +
		"2026-12-01 21:05:48.002 UTC [4242] STATEMENT:  SELECT other FROM elsewhere\n" +
		"2026-12-01 21:05:48.003 UTC [777] STATEMENT:  SELECT disc_id, customer_id, sum(quantity) FROM orders\n" +
		"\t    WHERE disc_id = ANY($1)\n" +
		"\t    GROUP BY 1, 2\n" +
		"2026-12-01 21:05:49.000 UTC [778] ERROR:  canceling statement due to statement timeout\n" +
		"2026-12-01 21:05:49.001 UTC [778] STATEMENT:  SELECT disc_id, customer_id, sum(quantity) FROM orders WHERE disc_id = ANY($1) GROUP BY 1, 2\n"
	path := filepath.Join(t.TempDir(), "postgres.log")
	head := "2026-12-01 21:00:00.000 UTC [1] ERROR:  canceling statement due to statement timeout\n" +
		"2026-12-01 21:00:00.001 UTC [1] STATEMENT:  SELECT before the offset\n"
	if err := os.WriteFile(path, []byte(head+log), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &stack{pgLog: path}
	got := s.timedOutSince(int64(len(head)))
	// Two cancels of one statement (the second written on one line) name it once.
	want := []string{"SELECT disc_id, customer_id, sum(quantity) FROM orders WHERE disc_id = ANY($1) GROUP BY 1, 2"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("timedOutSince (-want +got):\n%s", diff)
	}
}
