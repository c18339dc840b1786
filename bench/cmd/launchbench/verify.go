package main

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// check is one verified invariant.
type check struct {
	what string
	ok   bool
	got  string
}

// verify drains the writer, then checks the invariants of one disc after a scenario: sold + left = initial in
// Postgres and in Redis, every 201 order in Postgres exactly once and nothing else sold, reconcile clean.
// transportErrors > 0 allows orders in Postgres that no 201 reached (the answer was lost, not the order).
func (s *shop) verify(ctx context.Context, discID, initial int64, created []string, transportErrors int) ([]check, time.Duration) {
	return s.verifyWith(ctx, discID, initial, created, transportErrors, "transport errors")
}

// verifyWith is verify where up to unanswered orders may be in Postgres without a 201 having reached the
// bench, for the reason unansweredWhat names (transport errors; requests a closed-loop loader cut off at its end).
func (s *shop) verifyWith(ctx context.Context, discID, initial int64, created []string, unanswered int,
	unansweredWhat string) ([]check, time.Duration) {
	var checks []check
	add := func(what string, ok bool, format string, args ...any) {
		checks = append(checks, check{what: what, ok: ok, got: fmt.Sprintf(format, args...)})
	}

	// Drain: the writer's backlog (orders confirmed in Redis, not yet in Postgres) reaches zero.
	start := time.Now()
	drained := false
	var last int64
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		b, err := s.backlog()
		if err == nil && b == 0 {
			drained, last = true, 0
			break
		}
		last = b
	}
	drain := time.Since(start)
	add("writer drained (backlog 0)", drained, "%d left after %s", last, drain.Round(time.Millisecond))

	seen := map[string]bool{}
	dups := 0
	for _, id := range created {
		if seen[id] {
			dups++
		}
		seen[id] = true
	}
	add("no order id answered 201 twice", dups == 0, "%d repeated", dups)

	var pgStock, sold, rows int64
	if err := s.pool.QueryRow(ctx, `SELECT stock FROM discs WHERE id = $1`, discID).Scan(&pgStock); err != nil {
		add("read disc", false, "%v", err)
		return checks, drain
	}
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(sum(quantity), 0), count(*) FROM orders WHERE disc_id = $1 AND status = 'confirmed'`,
		discID).Scan(&sold, &rows); err != nil {
		add("read orders", false, "%v", err)
		return checks, drain
	}
	add("Postgres: sold + left = initial", sold+pgStock == initial, "%d sold + %d left = %d (initial %d)", sold, pgStock, sold+pgStock, initial)
	if d, err := s.getDisc(discID); err != nil {
		add("Redis: sold + available = initial", false, "%v", err)
	} else {
		add("Redis: sold + available = initial", sold+d.Available == initial, "%d sold + %d available = %d (initial %d)",
			sold, d.Available, sold+d.Available, initial)
	}

	// Every 201 id in Postgres exactly once.
	ids := make([]string, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	found := map[string]int{}
	r, err := s.pool.Query(ctx, `SELECT id::text, count(*) FROM orders WHERE id = ANY($1::uuid[]) GROUP BY id`, ids)
	if err != nil {
		add("201 orders in Postgres", false, "%v", err)
		return checks, drain
	}
	for r.Next() {
		var id string
		var n int
		if err := r.Scan(&id, &n); err != nil {
			add("201 orders in Postgres", false, "%v", err)
			r.Close()
			return checks, drain
		}
		found[id] = n
	}
	r.Close()
	missing, multi := 0, 0
	for _, id := range ids {
		switch found[id] {
		case 0:
			missing++
		case 1:
		default:
			multi++
		}
	}
	add("every 201 order in Postgres exactly once", missing == 0 && multi == 0, "%d answered 201, %d missing, %d more than once",
		len(ids), missing, multi)
	extra := rows - int64(len(ids))
	add("no order in Postgres without a 201", extra == 0 || (extra > 0 && extra <= int64(unanswered)),
		"%d orders in Postgres for %d answers 201 (%d %s)", rows, len(ids), unanswered, unansweredWhat)

	// In RS_RESERVE_MODE=postgres reconcile checks the ledger alone: there is no Redis to compare.
	code, out := s.reconcile(ctx)
	add("recordshop reconcile exits 0", code == 0, "exit %d%s", code, brief(out, code))
	return checks, drain
}

func brief(out string, code int) string {
	if code == 0 {
		return ""
	}
	out = strings.Join(strings.Fields(out), " ")
	if len(out) > 300 {
		out = out[:300] + "..."
	}
	return ": " + out
}

// lag is the writer lag (reservation to row in Postgres) of the orders reserved in [from, to).
type lag struct{ p50, p99, max time.Duration }

func (s *shop) lagOf(ctx context.Context, discID int64, from, to time.Time) (lag, error) {
	var p50, p99, mx float64
	err := s.pool.QueryRow(ctx, `
SELECT coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY l), 0), coalesce(percentile_cont(0.99) WITHIN GROUP (ORDER BY l), 0),
       coalesce(max(l), 0)
FROM (SELECT extract(epoch FROM persisted_at - reserved_at) AS l FROM orders
      WHERE disc_id = $1 AND reserved_at >= $2 AND reserved_at < $3) x`, discID, from, to).Scan(&p50, &p99, &mx)
	sec := func(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
	return lag{sec(p50), sec(p99), sec(mx)}, err
}
