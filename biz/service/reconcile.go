package service

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/dal/pg"
	rsredis "github.com/learecordshop/recordshop/dal/redis"
)

// Verdicts of a disc in a reconcile report.
const (
	VerdictOK         = "ok"
	VerdictDrift      = "drift"       // Redis' counts differ from what Postgres says they must be
	VerdictMissing    = "missing"     // a disc on sale is not in Redis
	VerdictLedger     = "ledger"      // Postgres breaks its own identity, or stock is negative: not auto-fixed
	VerdictStuck      = "stuck"       // orders pending or stock events unapplied for longer than the threshold
	VerdictDeadLetter = "dead-letter" // confirmed orders the writer could not put in Postgres
)

// DiscReport is the reconcile result of one disc.
type DiscReport struct {
	DiscID        int64           `json:"disc_id"`
	Partition     int             `json:"partition"`
	Verdict       string          `json:"verdict"`
	RedisAvail    int64           `json:"redis_available"`
	ExpectedAvail int64           `json:"expected_available"`
	PGStock       int64           `json:"postgres_stock"`
	PendingUnits  int64           `json:"pending_units"`   // confirmed in Redis, not yet in Postgres
	Unapplied     int64           `json:"unapplied_delta"` // stock events Redis has not applied yet
	Drift         int64           `json:"drift"`           // RedisAvail - ExpectedAvail
	Customers     []CustomerDrift `json:"customer_drift,omitempty"`
	LedgerStock   int64           `json:"ledger_stock"` // sum(stock_events.delta) - sum(orders.quantity)
	DeadLetters   int             `json:"dead_letters"`
	DeadUnits     int64           `json:"dead_units"`
	StuckPending  int             `json:"stuck_pending"`
	StuckEvents   int             `json:"stuck_events"`
	Notes         []string        `json:"notes,omitempty"`
	customerFixes map[int64]int64 // what --fix adds per customer
	versionAhead  bool            // Redis holds a version Postgres never committed: --fix reloads the disc
}

// CustomerDrift is a customer whose units of a disc differ between Redis and Postgres.
type CustomerDrift struct {
	CustomerID int64 `json:"customer_id"`
	Redis      int64 `json:"redis"`
	Expected   int64 `json:"expected"`
}

// Report is the result of one reconcile run.
type Report struct {
	CheckedAt       time.Time    `json:"checked_at"`
	Partitions      int          `json:"partitions"`
	RedisPartitions int          `json:"redis_partitions"` // 0 when Redis lost its data
	Discs           int          `json:"discs_checked"`
	Problems        []DiscReport `json:"problems"` // every disc whose verdict is not ok
	DeadUnreadable  int          `json:"dead_letters_unreadable"`
	Clean           bool         `json:"clean"`
	Summary         string       `json:"summary"`
	Fixed           []string     `json:"fixed,omitempty"`
	UnfixableLedger int          `json:"ledger_problems"`
}

// ReconcileConfig tunes reconcile.
type ReconcileConfig struct {
	StuckAfter time.Duration // pending orders and unapplied events older than this are stuck (default 1 min)
	Chunk      int           // discs per snapshot (default 200)
	Attempts   int           // a disc must show the same drift this many times in a row (default 3)
	Progress   func(done, total int)
}

// Reconciler proves that Redis and Postgres agree, and repairs Redis from Postgres.
type Reconciler struct {
	discs *pg.Discs
	gate  *rsredis.Gate
	relay *Relay
	log   *zap.Logger
	cfg   ReconcileConfig
	now   func() time.Time
	sync  func(context.Context) error // writes the inactive customers into Redis
}

// NewReconciler returns a reconciler; syncInactive rewrites Redis' inactive-customer sets from Postgres.
func NewReconciler(discs *pg.Discs, gate *rsredis.Gate, relay *Relay, syncInactive func(context.Context) error, cfg ReconcileConfig, log *zap.Logger, now func() time.Time) *Reconciler {
	if cfg.StuckAfter == 0 {
		cfg.StuckAfter = time.Minute
	}
	if cfg.Chunk == 0 {
		cfg.Chunk = 200
	}
	if cfg.Attempts == 0 {
		cfg.Attempts = 3
	}
	return &Reconciler{discs: discs, gate: gate, relay: relay, log: log, cfg: cfg, now: now, sync: syncInactive}
}

// Check compares every disc (or only discID when not 0). It never reports drift that a later look does not
// confirm: a disc that disagrees is looked at again, up to Attempts times, and reported only if it still does.
func (r *Reconciler) Check(ctx context.Context, discID int64) (Report, error) {
	if r.gate == nil {
		return r.checkLedgerOnly(ctx, discID)
	}
	rep := Report{CheckedAt: r.now().UTC(), Partitions: r.gate.Keys().Partitions}
	var err error
	if rep.RedisPartitions, err = r.gate.MetaPartitions(ctx); err != nil {
		return rep, err
	}
	if rep.RedisPartitions != 0 && rep.RedisPartitions != rep.Partitions {
		return rep, fmt.Errorf("redis has %d partitions, this deployment %d: %w", rep.RedisPartitions, rep.Partitions, model.ErrPartitionsDisagree)
	}
	ids := []int64{discID}
	if discID != 0 {
		if _, err := r.discs.Get(ctx, discID); err != nil {
			return rep, err
		}
	} else {
		if ids, err = r.discs.AllIDs(ctx); err != nil {
			return rep, err
		}
	}
	byPartition := map[int][]int64{}
	for _, id := range ids {
		p := r.gate.Keys().Partition(id)
		byPartition[p] = append(byPartition[p], id)
	}
	done := 0
	for p := 0; p < rep.Partitions; p++ {
		for chunk := range slices.Chunk(byPartition[p], r.cfg.Chunk) {
			reports, unreadable, err := r.checkChunk(ctx, p, chunk)
			if err != nil {
				return rep, err
			}
			rep.DeadUnreadable += unreadable
			for _, d := range reports {
				if d.Verdict != VerdictOK {
					rep.Problems = append(rep.Problems, d)
				}
				if d.Verdict == VerdictLedger {
					rep.UnfixableLedger++
				}
			}
			done += len(chunk)
			if r.cfg.Progress != nil {
				r.cfg.Progress(done, len(ids))
			}
		}
	}
	rep.Discs = len(ids)
	rep.Clean = len(rep.Problems) == 0 && rep.RedisPartitions != 0 && rep.DeadUnreadable == 0
	rep.Summary = summary(rep)
	return rep, nil
}

// checkLedgerOnly is the check of a Postgres-only deployment (RS_RESERVE_MODE=postgres): there is no Redis
// to compare, so it proves the ledger identity and that no stock is negative.
func (r *Reconciler) checkLedgerOnly(ctx context.Context, discID int64) (Report, error) {
	rep := Report{CheckedAt: r.now().UTC()}
	ids := []int64{discID}
	var err error
	if discID == 0 {
		if ids, err = r.discs.AllIDs(ctx); err != nil {
			return rep, err
		}
	}
	for chunk := range slices.Chunk(ids, r.cfg.Chunk) {
		ledger, _, err := r.discs.Ledger(ctx, pg.LedgerQuery{DiscIDs: chunk, LastID: "0-0", StuckAfter: r.cfg.StuckAfter})
		if err != nil {
			return rep, err
		}
		if discID != 0 && len(ledger) == 0 {
			return rep, model.ErrNotFound
		}
		for _, id := range chunk {
			l, ok := ledger[id]
			if !ok {
				continue
			}
			if ls := l.EventsSum - l.OrdersSum; l.Stock != ls || l.Stock < 0 {
				rep.Problems = append(rep.Problems, DiscReport{DiscID: id, Verdict: VerdictLedger, PGStock: l.Stock,
					LedgerStock: ls, Notes: []string{fmt.Sprintf("postgres stock %d, ledger says %d", l.Stock, ls)}})
				rep.UnfixableLedger++
			}
		}
	}
	rep.Discs = len(ids)
	rep.Clean = len(rep.Problems) == 0
	rep.Summary = fmt.Sprintf("postgres-only mode: %d discs checked against the ledger, %d disagree", rep.Discs, len(rep.Problems))
	if rep.Clean {
		rep.Summary = fmt.Sprintf("clean: postgres-only mode, the ledger of %d discs holds", rep.Discs)
	}
	return rep, nil
}

// checkChunk checks some discs of one partition, looking again at the ones that disagree.
func (r *Reconciler) checkChunk(ctx context.Context, p int, ids []int64) ([]DiscReport, int, error) {
	final := map[int64]DiscReport{}
	todo := ids
	unreadable := 0
	for attempt := 1; attempt <= r.cfg.Attempts && len(todo) > 0; attempt++ {
		if attempt > 1 {
			select { // let in-flight changes (a commit between its Redis and Postgres halves) land
			case <-ctx.Done():
				return nil, 0, ctx.Err()
			case <-time.After(time.Duration(attempt*25) * time.Millisecond):
			}
		}
		reports, u, err := r.compare(ctx, p, todo)
		if err != nil {
			return nil, 0, err
		}
		unreadable = u
		var again []int64
		for _, d := range reports {
			prev, seen := final[d.DiscID]
			final[d.DiscID] = d
			transient := d.Verdict == VerdictDrift || d.Verdict == VerdictMissing
			if transient && (!seen || prev.Drift != d.Drift || prev.Verdict != d.Verdict || attempt == 1) && attempt < r.cfg.Attempts {
				again = append(again, d.DiscID)
			}
		}
		todo = again
	}
	out := make([]DiscReport, 0, len(ids))
	for _, id := range ids {
		out = append(out, final[id])
	}
	return out, unreadable, nil
}

// compare takes one Redis snapshot and one Postgres snapshot of some discs and judges each disc.
//
// At the Redis snapshot (instant T, stream position L, disc version v):
//
//	expected avail = pg.stock - (deltas of events after v) + (units of orders in Postgres reserved after L)
//	                 - (units pending at T and not yet in Postgres) - (units dead-lettered at T)
//	expected units of customer c = confirmed(c) - after(c) + pending(c) + dead(c) + (cancels after v)(c)
//
// The Postgres snapshot is taken after T; the "after L" and "pending and not yet in Postgres" terms account
// for the orders the writer moved in between, which is what keeps a check under full load free of false drift.
func (r *Reconciler) compare(ctx context.Context, p int, ids []int64) ([]DiscReport, int, error) {
	snap, err := r.gate.Snapshot(ctx, p, ids)
	if err != nil {
		return nil, 0, err
	}
	versions := make(map[int64]int64, len(ids))
	for id, d := range snap.Discs {
		versions[id] = d.Version
	}
	pendingIDs := make([]uuid.UUID, len(snap.Pending))
	for i, o := range snap.Pending {
		pendingIDs[i] = o.ID
	}
	ledger, persisted, err := r.discs.Ledger(ctx, pg.LedgerQuery{Partition: p, DiscIDs: ids, RedisVersion: versions,
		LastID: snap.LastID, PendingIDs: pendingIDs, StuckAfter: r.cfg.StuckAfter})
	if err != nil {
		return nil, 0, err
	}
	type units struct {
		total      int64
		byCustomer map[int64]int64
		count      int
	}
	pending, dead := map[int64]*units{}, map[int64]*units{}
	stuck := map[int64]int{}
	add := func(m map[int64]*units, disc, customer, n int64) {
		u := m[disc]
		if u == nil {
			u = &units{byCustomer: map[int64]int64{}}
			m[disc] = u
		}
		u.total += n
		u.byCustomer[customer] += n
		u.count++
	}
	stuckBefore := r.now().Add(-r.cfg.StuckAfter)
	for _, o := range snap.Pending {
		if o.ReservedAt.Before(stuckBefore) {
			stuck[o.DiscID]++
		}
		if !persisted[o.ID] {
			add(pending, o.DiscID, o.CustomerID, int64(o.Quantity))
		}
	}
	for _, o := range snap.Dead {
		add(dead, o.DiscID, o.CustomerID, int64(o.Quantity))
	}
	empty := &units{byCustomer: map[int64]int64{}}
	var out []DiscReport
	for _, id := range ids {
		l, ok := ledger[id]
		if !ok {
			continue // removed since the list was read
		}
		rd := snap.Discs[id]
		pu, du := pending[id], dead[id]
		if pu == nil {
			pu = empty
		}
		if du == nil {
			du = empty
		}
		d := DiscReport{DiscID: id, Partition: p, RedisAvail: rd.Avail, PGStock: l.Stock, PendingUnits: pu.total,
			Unapplied: l.EventsAfter, LedgerStock: l.EventsSum - l.OrdersSum, DeadLetters: du.count, DeadUnits: du.total,
			StuckPending: stuck[id], StuckEvents: l.OldUnapplied, Verdict: VerdictOK}
		d.ExpectedAvail = l.Stock - l.EventsAfter + l.AfterTotal - pu.total - du.total
		d.Drift = d.RedisAvail - d.ExpectedAvail
		switch {
		case l.Stock != d.LedgerStock || l.Stock < 0:
			d.Verdict = VerdictLedger
			d.Notes = append(d.Notes, fmt.Sprintf("postgres stock %d, ledger says %d", l.Stock, d.LedgerStock))
		case !rd.Present && l.Archived:
			// Redis need not hold a disc that is off sale.
		case !rd.Present && l.NeverApplied:
			// Created in Postgres, and the relay has not brought it to Redis yet (`recordshop seed` on a live
			// shop, or a create whose process died after commit): in flight, until it is old enough to be stuck.
			d.ExpectedAvail, d.Drift = 0, 0
			d.Notes = append(d.Notes, "not in redis yet: its stock events wait for the relay")
			if d.StuckEvents > 0 {
				d.Verdict = VerdictStuck
			}
		case !rd.Present:
			// Nothing in Redis to compare by stream position: the disc needs all its stock, less what is
			// confirmed and not yet in Postgres.
			d.Verdict = VerdictMissing
			d.ExpectedAvail = l.Stock - pu.total - du.total
			d.Drift = -d.ExpectedAvail
			d.Notes = append(d.Notes, "not in redis")
		case rd.Version > l.Version:
			// Redis applied a guarded change whose transaction has not committed yet: look again. If it stays
			// so, the transaction rolled back after the guard, and only a reload puts Redis back in step.
			d.Verdict = VerdictDrift
			d.versionAhead = true
			d.Notes = append(d.Notes, fmt.Sprintf("redis at version %d, postgres at %d", rd.Version, l.Version))
		default:
			d.customerFixes = map[int64]int64{}
			customers := map[int64]bool{}
			for _, m := range []map[int64]int64{rd.Bought, l.Confirmed, l.After, pu.byCustomer, du.byCustomer, l.CancelsAfter} {
				for c := range m {
					customers[c] = true
				}
			}
			for c := range customers {
				want := l.Confirmed[c] - l.After[c] + pu.byCustomer[c] + du.byCustomer[c] + l.CancelsAfter[c]
				if got := rd.Bought[c]; got != want {
					d.Customers = append(d.Customers, CustomerDrift{CustomerID: c, Redis: got, Expected: want})
					d.customerFixes[c] = want - got
				}
			}
			slices.SortFunc(d.Customers, func(a, b CustomerDrift) int { return int(a.CustomerID - b.CustomerID) })
			switch {
			case d.Drift != 0 || len(d.Customers) > 0:
				d.Verdict = VerdictDrift
			case du.count > 0:
				d.Verdict = VerdictDeadLetter
			case d.StuckPending > 0 || d.StuckEvents > 0:
				d.Verdict = VerdictStuck
			}
		}
		out = append(out, d)
	}
	return out, snap.DeadUnreadable, nil
}

func summary(rep Report) string {
	if rep.RedisPartitions == 0 {
		return "redis holds no recordshop data (lost or replaced): run recordshop reconcile --rebuild"
	}
	counts := map[string]int{}
	for _, d := range rep.Problems {
		counts[d.Verdict]++
	}
	if rep.Clean {
		return fmt.Sprintf("clean: %d discs agree across %d partitions", rep.Discs, rep.Partitions)
	}
	s := fmt.Sprintf("%d of %d discs disagree:", len(rep.Problems), rep.Discs)
	for _, v := range []string{VerdictDrift, VerdictMissing, VerdictLedger, VerdictDeadLetter, VerdictStuck} {
		if counts[v] > 0 {
			s += fmt.Sprintf(" %d %s", counts[v], v)
		}
	}
	if rep.DeadUnreadable > 0 {
		s += fmt.Sprintf("; %d unreadable dead letters", rep.DeadUnreadable)
	}
	return s
}

// Fix repairs Redis from Postgres for what the report found: unapplied events are applied, missing discs
// loaded, drifted counts corrected (additively, so concurrent orders stay counted), the inactive sets
// rewritten, and readable dead letters put back on their stream for the writer to try again (one that fails
// again returns to the dead letters). A broken Postgres ledger is left for a person: Postgres is the truth. Every change is logged and listed in the returned report, which is a fresh
// check made after the repair.
func (r *Reconciler) Fix(ctx context.Context, rep Report) (Report, error) {
	if r.gate == nil {
		return rep, nil // Postgres-only: nothing to repair from the truth
	}
	var fixed []string
	if _, err := r.relay.SyncAll(ctx); err != nil {
		return rep, err
	}
	if err := r.sync(ctx); err != nil {
		return rep, err
	}
	requeued := map[int]bool{}
	for _, d := range rep.Problems {
		switch d.Verdict {
		case VerdictDeadLetter:
			if requeued[d.Partition] {
				continue
			}
			requeued[d.Partition] = true
			n, err := r.gate.RequeueDeadLetters(ctx, d.Partition, func(os []model.Order) (map[string]bool, error) {
				return r.inPostgres(ctx, os)
			})
			if err != nil {
				return rep, err
			}
			fixed = append(fixed, fmt.Sprintf("partition %d: %d dead letters put back on the stream for the writer", d.Partition, n))
		case VerdictMissing:
			if err := r.relay.Load(ctx, d.DiscID); err != nil {
				return rep, err
			}
			fixed = append(fixed, fmt.Sprintf("disc %d: loaded into redis", d.DiscID))
		case VerdictDrift:
			if d.versionAhead {
				if err := r.gate.Forget(ctx, d.DiscID); err != nil {
					return rep, err
				}
				if err := r.relay.Load(ctx, d.DiscID); err != nil {
					return rep, err
				}
				fixed = append(fixed, fmt.Sprintf("disc %d: reloaded from postgres (redis was at a version postgres never committed)", d.DiscID))
				break
			}
			ok, err := r.gate.Adjust(ctx, d.DiscID, -d.Drift, d.customerFixes)
			if err != nil {
				return rep, err
			}
			if !ok {
				continue
			}
			msg := fmt.Sprintf("disc %d: available %+d", d.DiscID, -d.Drift)
			for c, n := range d.customerFixes {
				msg += fmt.Sprintf(", customer %d units %+d", c, n)
			}
			fixed = append(fixed, msg)
		default:
			continue
		}
		r.log.Warn("reconcile repaired redis", zap.String("change", fixed[len(fixed)-1]))
	}
	after, err := r.Check(ctx, 0)
	after.Fixed = fixed
	return after, err
}

func (r *Reconciler) inPostgres(ctx context.Context, orders []model.Order) (map[string]bool, error) {
	ids := make([]uuid.UUID, len(orders))
	for i, o := range orders {
		ids[i] = o.ID
	}
	have, err := r.discs.Existing(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(have))
	for id := range have {
		out[id.String()] = true
	}
	return out, nil
}

// Rebuild reloads a Redis that lost its data (flushed or replaced) entirely from Postgres: the partition
// count, every disc with its stock (less orders Redis still has pending), limits, prices, sale starts and
// units per customer, and the inactive customers. Discs Redis still holds are replaced.
func (r *Reconciler) Rebuild(ctx context.Context) (Report, error) {
	if r.gate == nil {
		return r.Check(ctx, 0)
	}
	if err := r.gate.ClaimPartitions(ctx); err != nil {
		return Report{}, err
	}
	last, err := r.discs.LastStreamIDs(ctx)
	if err != nil {
		return Report{}, err
	}
	for p := 0; p < r.gate.Keys().Partitions; p++ {
		if err := r.gate.EnsureStream(ctx, p, last[p]); err != nil {
			return Report{}, err
		}
	}
	ids, err := r.discs.AllIDs(ctx)
	if err != nil {
		return Report{}, err
	}
	for _, id := range ids {
		if err := r.gate.Forget(ctx, id); err != nil {
			return Report{}, err
		}
		if err := r.relay.Load(ctx, id); err != nil {
			return Report{}, err
		}
	}
	if err := r.sync(ctx); err != nil {
		return Report{}, err
	}
	r.log.Warn("reconcile rebuilt redis from postgres", zap.Int("discs", len(ids)))
	rep, err := r.Check(ctx, 0)
	rep.Fixed = []string{fmt.Sprintf("rebuilt %d discs and the inactive customers from postgres", len(ids))}
	return rep, err
}
