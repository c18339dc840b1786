package service

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/dal/pg"
	rsredis "github.com/learecordshop/recordshop/dal/redis"
)

// Reconcile is in four files: this one holds the reports, the stores reconcile needs and the check's driver
// (which discs, in which partitions, looked at how often); reconcile_gather.go reads both stores;
// reconcile_judge.go is the verdict formula, pure; reconcile_repair.go plans and applies --fix and --rebuild.

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
	Chunk      int           // discs per snapshot and ledger read (default 500)
	Attempts   int           // a disc must show the same drift this many times in a row (default 3)
	// Workers is how many partitions' Redis snapshots are read at once (default 4): each chunk is a snapshot
	// of its own, so partitions are independent, and Redis' round trips overlap with the reading of replies.
	Workers  int
	Progress func(done, total int) // called from one goroutine at a time
	// Full recounts every order and stock event of each disc instead of reading the running totals, and
	// reports a total that differs from its recount as a broken ledger (reconcile --full).
	Full bool
}

// DefaultStuckAfter is how old a pending order or an unapplied stock event must be to count as stuck: the
// writer lands an order in milliseconds and the relay sweeps every second, so a minute means something is wrong.
const DefaultStuckAfter = time.Minute

func (c ReconcileConfig) withDefaults() ReconcileConfig {
	if c.StuckAfter == 0 {
		c.StuckAfter = DefaultStuckAfter
	}
	if c.Chunk == 0 {
		c.Chunk = 500
	}
	if c.Attempts == 0 {
		c.Attempts = 3
	}
	if c.Workers == 0 {
		c.Workers = 4
	}
	return c
}

// LedgerStore is what reconcile reads of Postgres' discs: which discs there are, and the ledger of some of them
// in one consistent snapshot (*pg.Discs).
type LedgerStore interface {
	Get(ctx context.Context, id int64) (model.Disc, error)
	AllIDs(ctx context.Context) ([]int64, error)
	// AllCounted is AllIDs with, for each, whether it has a per-customer limit (the only discs whose units
	// Redis counts), in one read.
	AllCounted(ctx context.Context) ([]int64, map[int64]bool, error)
	Ledger(ctx context.Context, qs ...pg.LedgerQuery) (map[int64]*pg.LedgerDisc, map[uuid.UUID]bool, error)
}

// OrderPositions is what reconcile's repairs read of Postgres' orders (*pg.Orders).
type OrderPositions interface {
	// Existing returns which of ids Postgres has.
	Existing(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]bool, error)
	// LastStreamIDs returns, per partition, the highest stream position of the orders Postgres has.
	LastStreamIDs(ctx context.Context) (map[int]string, error)
}

// RedisSnapshots is what a check reads of Redis (*rsredis.Gate).
type RedisSnapshots interface {
	Keys() rsredis.Keys
	MetaPartitions(ctx context.Context) (int, error)
	Snapshot(ctx context.Context, p int, discIDs []int64) (rsredis.Snapshot, error)
	// SnapshotCounted is Snapshot reading units per customer only of the discs in counted.
	SnapshotCounted(ctx context.Context, p int, discIDs []int64, counted map[int64]bool) (rsredis.Snapshot, error)
}

// RedisRepairs is what --fix and --rebuild change in Redis (*rsredis.Gate).
type RedisRepairs interface {
	Adjust(ctx context.Context, discID, availDelta int64, customers map[int64]int64) (bool, error)
	Forget(ctx context.Context, discID int64) error
	ForgetAll(ctx context.Context, discIDs []int64) error
	RequeueDeadLetters(ctx context.Context, p int, inPostgres func([]model.Order) (map[string]bool, error)) (int, error)
	ClaimPartitions(ctx context.Context) error
	EnsureStream(ctx context.Context, p int, minLastID string) error
}

// DiscLoader brings Postgres' discs to Redis (*Relay): every unapplied stock event, or one disc whole.
type DiscLoader interface {
	SyncAll(ctx context.Context) (int, error)
	Load(ctx context.Context, discID int64) error
	LoadAll(ctx context.Context, discIDs []int64) error
}

// RedisSide is everything reconcile needs to compare Redis with Postgres and repair it.
type RedisSide struct {
	Snapshots RedisSnapshots
	Repairs   RedisRepairs
	Loader    DiscLoader
	// SyncInactive rewrites Redis' inactive-customer sets from Postgres.
	SyncInactive func(context.Context) error
}

// Reconciler proves that Redis and Postgres agree, and repairs Redis from Postgres. What it compares is chosen
// when it is built: NewReconciler compares Redis with the Postgres ledger; NewLedgerReconciler, for a
// deployment that reserves in Postgres only, has no second store and checks the ledger alone.
type Reconciler struct {
	mode reconcileMode
}

// reconcileMode is reconcile in one kind of deployment.
type reconcileMode interface {
	check(ctx context.Context, discID int64) (Report, error)
	fix(ctx context.Context, rep Report) (Report, error)
	rebuild(ctx context.Context) (Report, error)
}

// NewReconciler returns the reconciler of a shop that reserves in Redis.
func NewReconciler(discs LedgerStore, orders OrderPositions, redis RedisSide, cfg ReconcileConfig, log *zap.Logger, now func() time.Time) *Reconciler {
	return &Reconciler{mode: &redisReconcile{discs: discs, orders: orders, redis: redis, cfg: cfg.withDefaults(), log: log, now: now}}
}

// NewLedgerReconciler returns the reconciler of a shop that reserves in Postgres only (RS_RESERVE_MODE=postgres):
// there is no Redis to compare, so it proves the ledger identity and that no stock is negative, and has nothing
// to repair.
func NewLedgerReconciler(discs LedgerStore, cfg ReconcileConfig, now func() time.Time) *Reconciler {
	return &Reconciler{mode: &ledgerReconcile{discs: discs, cfg: cfg.withDefaults(), now: now}}
}

// Check compares every disc (or only discID when not 0). It never reports drift that a later look does not
// confirm: a disc that disagrees is looked at again, up to Attempts times, and reported only if it still does.
func (r *Reconciler) Check(ctx context.Context, discID int64) (Report, error) {
	return r.mode.check(ctx, discID)
}

// Fix repairs Redis from Postgres for what the report found: unapplied events are applied, missing discs
// loaded, drifted counts corrected (additively, so concurrent orders stay counted), the inactive sets
// rewritten, and readable dead letters put back on their stream for the writer to try again (one that fails
// again returns to the dead letters). A broken Postgres ledger is left for a person: Postgres is the truth.
// Every change is logged and listed in the returned report, which is a fresh check made after the repair.
// Without Redis there is nothing to repair from the truth, and rep comes back as it is.
func (r *Reconciler) Fix(ctx context.Context, rep Report) (Report, error) {
	return r.mode.fix(ctx, rep)
}

// Rebuild reloads a Redis that lost its data (flushed or replaced) entirely from Postgres: the partition
// count, every disc with its stock (less orders Redis still has pending), limits, prices, sale starts and
// units per customer, and the inactive customers. Discs Redis still holds are replaced. Without Redis it
// checks.
func (r *Reconciler) Rebuild(ctx context.Context) (Report, error) { return r.mode.rebuild(ctx) }

// redisReconcile compares Redis with the Postgres ledger, disc by disc, and repairs Redis.
type redisReconcile struct {
	discs  LedgerStore
	orders OrderPositions
	redis  RedisSide
	cfg    ReconcileConfig
	log    *zap.Logger
	now    func() time.Time
}

func (r *redisReconcile) check(ctx context.Context, discID int64) (Report, error) {
	keys := r.redis.Snapshots.Keys()
	rep := Report{CheckedAt: r.now().UTC(), Partitions: keys.Partitions}
	var err error
	if rep.RedisPartitions, err = r.redis.Snapshots.MetaPartitions(ctx); err != nil {
		return rep, err
	}
	if rep.RedisPartitions != 0 && rep.RedisPartitions != rep.Partitions {
		return rep, fmt.Errorf("redis has %d partitions, this deployment %d: %w", rep.RedisPartitions, rep.Partitions, model.ErrPartitionsDisagree)
	}
	ids := []int64{discID}
	var counted map[int64]bool // nil: read every disc's units per customer from Redis
	if discID != 0 {
		if _, err := r.discs.Get(ctx, discID); err != nil {
			return rep, err
		}
	} else {
		// Units per customer are read from Redis for the discs Postgres says have a limit. One that gets a
		// limit after this read shows as drift at first, and its look again reads every unit.
		if ids, counted, err = r.discs.AllCounted(ctx); err != nil {
			return rep, err
		}
	}
	byPartition := map[int][]int64{}
	for _, id := range ids {
		p := keys.Partition(id)
		byPartition[p] = append(byPartition[p], id)
	}
	found, err := r.checkPartitions(ctx, byPartition, counted, rep.Partitions, len(ids))
	if err != nil {
		return rep, err
	}
	for _, v := range found { // in partition order, whatever order the workers finished in
		rep.DeadUnreadable += v.DeadUnreadable
		for _, d := range v.Discs {
			if d.Verdict != VerdictOK {
				rep.Problems = append(rep.Problems, d)
			}
			if d.Verdict == VerdictLedger {
				rep.UnfixableLedger++
			}
		}
	}
	rep.Discs = len(ids)
	rep.Clean = len(rep.Problems) == 0 && rep.RedisPartitions != 0 && rep.DeadUnreadable == 0
	rep.Summary = summary(rep)
	return rep, nil
}

// checkPartitions checks every partition's discs and returns the verdicts of each partition in partition
// order. A first look reads Redis chunk by chunk (cfg.Chunk discs a snapshot, cfg.Workers partitions at a
// time), then the Postgres ledger of all of them after every Redis snapshot (withLedger: two transactions of
// half the partitions each), whose reads cost what the shop's rows cost rather than a round trip per chunk; the discs that disagree are looked at again, chunk by chunk (checkChunk),
// and only drift that stays is reported. The first error stops the rest.
func (r *redisReconcile) checkPartitions(ctx context.Context, byPartition map[int][]int64, counted map[int64]bool, partitions, total int) ([]verdicts, error) {
	chunks, err := r.snapshotAll(ctx, byPartition, partitions, counted)
	if err != nil {
		return nil, err
	}
	var evs []evidence
	if r.cfg.Full {
		// A full check recounts every order of each disc: a chunk's worth of that is all one statement can
		// take under the statement timeout, so each chunk gets its own ledger read.
		for _, c := range chunks {
			ev, err := r.withLedger(ctx, []looked{c})
			if err != nil {
				return nil, err
			}
			evs = append(evs, ev...)
		}
	} else if evs, err = r.withLedger(ctx, chunks); err != nil {
		return nil, err
	}
	// The verdicts of the first look, two chunks at a time: each is a pure function of its evidence.
	first := make([]verdicts, len(chunks))
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for i := w; i < len(chunks); i += 2 {
				first[i] = judge(evs[i])
			}
		})
	}
	wg.Wait()
	found := make([]verdicts, partitions)
	done := 0
	for i, c := range chunks {
		v := first[i]
		final := map[int64]DiscReport{}
		again := lookAgain(final, v.Discs, 1, r.cfg.Attempts)
		if len(again) > 0 {
			second, err := r.checkChunk(ctx, c.p, again)
			if err != nil {
				return nil, err
			}
			for _, d := range second.Discs {
				final[d.DiscID] = d
			}
		}
		for _, id := range c.ids {
			if d, ok := final[id]; ok { // not there: removed since the list was read
				found[c.p].Discs = append(found[c.p].Discs, d)
			}
		}
		found[c.p].DeadUnreadable = v.DeadUnreadable
		done += len(c.ids)
		if r.cfg.Progress != nil {
			r.cfg.Progress(done, total)
		}
	}
	return found, nil
}

// snapshotAll reads every chunk's Redis snapshot (units per customer of the counted discs), cfg.Workers
// partitions at a time, and returns them in partition and chunk order.
func (r *redisReconcile) snapshotAll(ctx context.Context, byPartition map[int][]int64, partitions int, counted map[int64]bool) ([]looked, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	each := make([][]looked, partitions)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(r.cfg.Workers, partitions) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range next {
				for ids := range slices.Chunk(byPartition[p], r.cfg.Chunk) {
					snap, err := r.redis.Snapshots.SnapshotCounted(ctx, p, ids, counted)
					if err != nil {
						cancel(err)
						return
					}
					each[p] = append(each[p], looked{p: p, ids: ids, snap: snap})
				}
			}
		}()
	}
feed:
	for p := range partitions {
		select {
		case next <- p:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return slices.Concat(each...), nil
}

// checkChunk checks some discs of one partition, looking again at the ones that disagree: a commit between
// its Redis and Postgres halves looks like drift for an instant, and only drift that stays is reported.
func (r *redisReconcile) checkChunk(ctx context.Context, p int, ids []int64) (verdicts, error) {
	final := map[int64]DiscReport{}
	todo := ids
	unreadable := 0
	for attempt := 1; attempt <= r.cfg.Attempts && len(todo) > 0; attempt++ {
		if attempt > 1 {
			select { // let in-flight changes land
			case <-ctx.Done():
				return verdicts{}, ctx.Err()
			case <-time.After(time.Duration(attempt*25) * time.Millisecond):
			}
		}
		ev, err := r.gather(ctx, p, todo)
		if err != nil {
			return verdicts{}, err
		}
		v := judge(ev)
		unreadable = v.DeadUnreadable
		todo = lookAgain(final, v.Discs, attempt, r.cfg.Attempts)
	}
	out := verdicts{Discs: make([]DiscReport, 0, len(ids)), DeadUnreadable: unreadable}
	for _, id := range ids {
		if d, ok := final[id]; ok { // not there: removed since the list was read
			out.Discs = append(out.Discs, d)
		}
	}
	return out, nil
}

// lookAgain records the latest verdicts in final and returns the discs to look at again: those that drifted
// or were missing, unless the last look is spent or they showed the very same thing twice in a row.
func lookAgain(final map[int64]DiscReport, latest []DiscReport, attempt, attempts int) []int64 {
	var again []int64
	for _, d := range latest {
		prev, seen := final[d.DiscID]
		final[d.DiscID] = d
		transient := d.Verdict == VerdictDrift || d.Verdict == VerdictMissing
		if transient && (!seen || prev.Drift != d.Drift || prev.Verdict != d.Verdict || attempt == 1) && attempt < attempts {
			again = append(again, d.DiscID)
		}
	}
	return again
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

// ledgerReconcile is the check of a Postgres-only deployment: the ledger identity and no negative stock.
type ledgerReconcile struct {
	discs LedgerStore
	cfg   ReconcileConfig
	now   func() time.Time
}

func (r *ledgerReconcile) check(ctx context.Context, discID int64) (Report, error) {
	rep := Report{CheckedAt: r.now().UTC()}
	ids := []int64{discID}
	var err error
	if discID == 0 {
		if ids, err = r.discs.AllIDs(ctx); err != nil {
			return rep, err
		}
	}
	for chunk := range slices.Chunk(ids, r.cfg.Chunk) {
		ledger, _, err := r.discs.Ledger(ctx, pg.LedgerQuery{DiscIDs: chunk, LastID: "0-0", StuckAfter: r.cfg.StuckAfter, Full: r.cfg.Full})
		if err != nil {
			return rep, err
		}
		if discID != 0 && len(ledger) == 0 {
			return rep, model.ErrNotFound
		}
		for _, d := range judgeLedger(chunk, ledger) {
			rep.Problems = append(rep.Problems, d)
			rep.UnfixableLedger++
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

// fix has nothing to repair: Postgres is the truth, and a broken ledger is left for a person.
func (r *ledgerReconcile) fix(_ context.Context, rep Report) (Report, error) { return rep, nil }

// rebuild has no Redis to rebuild: it checks.
func (r *ledgerReconcile) rebuild(ctx context.Context) (Report, error) { return r.check(ctx, 0) }
