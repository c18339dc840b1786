package service

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/dal/pg"
	rsredis "github.com/learecordshop/recordshop/dal/redis"
)

// BatchStore is what the writer needs from the Postgres orders repository.
type BatchStore interface {
	// InsertBatch inserts the orders Postgres does not have yet and takes their units from the discs, in one
	// transaction; it returns how many it inserted (orders already there change nothing).
	InsertBatch(ctx context.Context, orders []model.Order) (int, error)
}

// OrderStream is what the writer needs of the partition order streams (dal/redis.Streams on Redis). Entries
// come with their order read; one whose record cannot be read carries Err.
type OrderStream interface {
	// Partitions is the number of partition streams.
	Partitions() int
	// EnsureGroup makes partition p's stream and consumer group exist.
	EnsureGroup(ctx context.Context, p int) error
	// ReadOwn reads entries delivered to consumer and not acknowledged, oldest first, without waiting.
	ReadOwn(ctx context.Context, p int, consumer string, count int) ([]rsredis.Entry, error)
	// ReadNew delivers to consumer entries no consumer has had yet, waiting up to block for the first (block
	// < 0: no wait).
	ReadNew(ctx context.Context, p int, consumer string, block time.Duration, count int) ([]rsredis.Entry, error)
	// Claim gives consumer entries another consumer left unacknowledged for minIdle, scanning from `from`
	// ("" starts); next is where the scan goes on, "" once it went round.
	Claim(ctx context.Context, p int, consumer string, minIdle time.Duration, from string, count int) (claimed []rsredis.Entry, next string, err error)
	// AckAndDrop acknowledges the stream entries of done (every order of each) and drops their pending records.
	AckAndDrop(ctx context.Context, p int, done []rsredis.Entry) error
	// DeadLetter moves an order Postgres can never take to the dead letters, with its cause, once; its entry
	// is acknowledged with the others (AckAndDrop).
	DeadLetter(ctx context.Context, p int, e rsredis.Entry, cause error) (added bool, err error)
	// Backlog is the number of partition p's confirmed orders not in Postgres yet.
	Backlog(ctx context.Context, p int) (int64, error)
}

// WriterConfig tunes the writer.
type WriterConfig struct {
	Consumer      string        // this writer's name in the consumer group; unique per process
	BatchSize     int           // about the most orders per Postgres transaction (entries are read whole)
	BatchWait     time.Duration // longest a batch waits to fill after its first read returned entries
	ClaimIdle     time.Duration // entries another consumer left unacknowledged this long are taken over
	MaxDeliveries int           // an order Postgres refused this many times goes to the dead letters

	// AfterCommit, when set, runs after a batch committed and before it is acknowledged. Fault tests use it
	// to crash in exactly that window: an error stops the partition without acknowledging.
	AfterCommit func(partition int, entryIDs []string) error
}

// Writer moves confirmed orders from the Redis partition streams to Postgres in batches. Each batch is one
// transaction that inserts only orders not there yet and takes only their units from the discs; the entries
// are acknowledged and their pending records dropped after it commits. A crash anywhere in between makes the
// entries come again (to this writer after a restart, or to another one after ClaimIdle), and the second time
// they change nothing: the effect is exactly once.
type Writer struct {
	stream  OrderStream
	store   BatchStore
	cfg     WriterConfig
	log     *zap.Logger
	metrics *WriterMetrics
	outage  outage
}

// NewWriter returns a writer; metrics may be nil.
func NewWriter(stream OrderStream, store BatchStore, cfg WriterConfig, metrics *WriterMetrics, log *zap.Logger) *Writer {
	if metrics == nil {
		metrics = newWriterMetrics()
	}
	return &Writer{stream: stream, store: store, cfg: cfg, log: log, metrics: metrics, outage: outage{log: log}}
}

// Run drains every partition until ctx ends; a batch already read is still written (bounded by a deadline).
func (w *Writer) Run(ctx context.Context) error {
	parts := w.stream.Partitions()
	var wg sync.WaitGroup
	errs := make([]error, parts)
	for p := 0; p < parts; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[p] = w.partition(ctx, p)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// partition reads one stream: first what this consumer read before a restart and did not acknowledge, then
// new entries, and every ClaimIdle what other consumers abandoned.
func (w *Writer) partition(ctx context.Context, p int) error {
	if !w.ensureGroup(ctx, p) {
		return nil
	}
	own := true // our own history comes first
	nextClaim := time.Now().Add(w.cfg.ClaimIdle)
	claimFrom := ""              // XAUTOCLAIM scans the pending list in pieces: go on where the last call stopped
	failures := map[string]int{} // entry id and order id -> deliveries Postgres refused
	size := &readSize{}
	for ctx.Err() == nil {
		count := size.entries(w.cfg.BatchSize)
		var entries []rsredis.Entry
		var err error
		switch {
		case time.Now().After(nextClaim):
			entries, claimFrom, err = w.claim(ctx, p, claimFrom, count)
			if claimFrom == "" { // the scan went round: rest until the next turn
				nextClaim = time.Now().Add(w.cfg.ClaimIdle / 2)
			}
		case own:
			entries, err = w.stream.ReadOwn(ctx, p, w.cfg.Consumer, count)
			if err == nil && len(entries) == 0 {
				own = false // our own history is done
				continue
			}
		default:
			entries, err = w.stream.ReadNew(ctx, p, w.cfg.Consumer, idleBlock, count)
			if err == nil {
				size.saw(entries)
				entries = w.fill(ctx, p, entries, size)
			}
		}
		if n, berr := w.stream.Backlog(ctx, p); berr == nil {
			w.metrics.backlog.WithLabelValues(strconv.Itoa(p)).Set(float64(n))
		}
		if err != nil {
			if ctx.Err() == nil {
				w.outage.failed(ctx, "writer cannot read its stream", err)
			}
			if errors.Is(err, rsredis.ErrNoGroup) && !w.ensureGroup(ctx, p) {
				return nil // Redis lost its data and was rebuilt: the group is made again
			}
			continue
		}
		if len(entries) == 0 {
			continue
		}
		retry, err := w.flush(ctx, p, entries, failures)
		if err != nil {
			if errors.Is(err, errInjectedCrash) {
				return err
			}
			w.outage.failed(ctx, "writer cannot flush to postgres", err)
			own = true // re-read what is still pending
			continue
		}
		w.outage.recovered()
		if retry {
			own = true // an entry Postgres refused waits in our history for its next try
		}
	}
	return nil
}

// ensureGroup creates the consumer group (and the stream) unless it exists; false means ctx ended first.
func (w *Writer) ensureGroup(ctx context.Context, p int) bool {
	for ctx.Err() == nil {
		err := w.stream.EnsureGroup(ctx, p)
		if err == nil {
			return true
		}
		w.outage.failed(ctx, "writer cannot reach redis", err)
	}
	return false
}

// readSize turns a number of orders into a number of stream entries to read. An entry holds the orders of one
// reservation batch (one at an idle shop, dozens at a launch) and is read whole, so a read asks for as many
// entries as, at the last read's orders per entry, make the orders wanted.
type readSize struct {
	perEntry float64 // orders per entry in the last read of new entries (1 before any)
}

func (r *readSize) entries(orders int) int {
	if r.perEntry <= 1 {
		return max(orders, 1)
	}
	return max(int(float64(orders)/r.perEntry), 1)
}

// saw learns the orders per entry of a read.
func (r *readSize) saw(read []rsredis.Entry) {
	if len(read) == 0 {
		return
	}
	n := 1
	for i := 1; i < len(read); i++ {
		if read[i].ID != read[i-1].ID {
			n++
		}
	}
	r.perEntry = float64(len(read)) / float64(n)
}

// idleBlock is how long one read of an idle partition waits in Redis for an order; it bounds how late the
// writer notices a shutdown.
const idleBlock = 250 * time.Millisecond

// fill lets a batch that is not full yet gather new entries for BatchWait after its first, then takes what
// came in one more read. A busy partition so commits a few large batches instead of many small ones: each
// commit costs Postgres a WAL flush and both stores a round trip, whatever its size. A failed read or a
// shutdown leaves the batch as it is; the next turn reads on.
func (w *Writer) fill(ctx context.Context, p int, entries []rsredis.Entry, size *readSize) []rsredis.Entry {
	if len(entries) == 0 || len(entries) >= w.cfg.BatchSize || w.cfg.BatchWait <= 0 {
		return entries
	}
	t := time.NewTimer(w.cfg.BatchWait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return entries
	case <-t.C:
	}
	more, err := w.stream.ReadNew(ctx, p, w.cfg.Consumer, -1, size.entries(w.cfg.BatchSize-len(entries)))
	if err != nil {
		return entries
	}
	return append(entries, more...)
}

// claim takes over entries that another consumer read and left unacknowledged for ClaimIdle (it died),
// scanning the pending list from `from`; it returns where the next call goes on ("": the scan is done).
func (w *Writer) claim(ctx context.Context, p int, from string, count int) ([]rsredis.Entry, string, error) {
	claimed, next, err := w.stream.Claim(ctx, p, w.cfg.Consumer, w.cfg.ClaimIdle, from, count)
	if err != nil {
		return nil, "", err
	}
	if len(claimed) > 0 {
		w.metrics.claims.Add(float64(len(claimed)))
		w.log.Info("claimed abandoned order entries", zap.Int("partition", p), zap.Int("entries", len(claimed)))
	}
	return claimed, next, nil
}

// flushTimeout bounds one flush, from taking a connection to the acknowledgement in Redis. It is longer than
// Postgres' statement timeout, so a statement that is merely slow (a lock queue on a hot disc) is cancelled by
// Postgres first, cleanly, on a connection that stays usable; past it only a dead path is left, the
// connection is dropped (pgx closes a connection whose call ran out of time, and the pool never hands out a
// closed one) and the retry dials a fresh one. A path whose packets vanish is usually noticed sooner, by the
// pool's TCP_USER_TIMEOUT and keep-alive (dal/pg.PoolConfig); this catches what they cannot see, such as a
// proxy that keeps acknowledging and forwards nothing.
const flushTimeout = pg.StatementTimeout + 2*time.Second

var errInjectedCrash = errors.New("writer: crash injected by AfterCommit")

// flush writes the orders of one read and acknowledges their stream entries. An order whose record cannot be
// read is dead-lettered at once. A batch Postgres refuses as data is written order by order so one poison order
// cannot hold back the partition; an order refused MaxDeliveries times is dead-lettered. A stream entry is
// acknowledged once each of its orders is in Postgres or in the dead letters; one with an order left for another
// try stays, and its other orders are written again (changing nothing) when it is read again. The writes get their
// own deadline rather than ctx, so a shutdown still lands what was read. retry reports an order left for another
// try.
func (w *Writer) flush(ctx context.Context, p int, entries []rsredis.Entry, failures map[string]int) (retry bool, err error) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
	defer cancel()
	done := make([]rsredis.Entry, 0, len(entries)) // in Postgres or in the dead letters
	batch := make([]rsredis.Entry, 0, len(entries))
	for _, e := range entries {
		if e.Err != nil {
			if err := w.deadLetter(wctx, p, e, e.Err); err != nil {
				return false, err
			}
			done = append(done, e)
			continue
		}
		batch = append(batch, e)
	}
	if len(batch) > 0 {
		err = w.insert(wctx, p, batch)
		switch {
		case err == nil:
			done = append(done, batch...)
		case !pg.IsDataError(err):
			return false, err
		default:
			// Some order is poison: find it by writing one at a time.
			for _, e := range batch {
				err := w.insert(wctx, p, []rsredis.Entry{e})
				if err == nil {
					done = append(done, e)
					continue
				}
				if !pg.IsDataError(err) {
					return false, err
				}
				key := e.ID + " " + e.Order.ID.String()
				failures[key]++
				if failures[key] < max(w.cfg.MaxDeliveries, 1) {
					w.log.Warn("postgres refused an order; will retry", zap.Int("partition", p), zap.String("entry", e.ID),
						zap.String("order", e.Order.ID.String()), zap.Error(err))
					retry = true
					continue
				}
				delete(failures, key)
				if err := w.deadLetter(wctx, p, e, err); err != nil {
					return false, err
				}
				done = append(done, e)
			}
		}
	}
	return retry, w.stream.AckAndDrop(wctx, p, whole(entries, done))
}

// whole returns the orders of done whose stream entry has every order of entries in done, in stream order.
func whole(entries, done []rsredis.Entry) []rsredis.Entry {
	if len(done) == len(entries) {
		return entries
	}
	left := map[string]int{} // entry id -> its orders not done
	for _, e := range entries {
		left[e.ID]++
	}
	for _, e := range done {
		left[e.ID]--
	}
	out := make([]rsredis.Entry, 0, len(done))
	for _, e := range entries {
		if left[e.ID] == 0 {
			out = append(out, e)
		}
	}
	return out
}

// insert puts orders in Postgres in one transaction (an order Postgres has already changes nothing).
func (w *Writer) insert(ctx context.Context, p int, batch []rsredis.Entry) error {
	start := time.Now()
	orders := make([]model.Order, len(batch))
	ids := make([]string, len(batch))
	for i, e := range batch {
		orders[i], ids[i] = e.Order, e.ID
	}
	inserted, err := w.store.InsertBatch(ctx, orders)
	if err != nil {
		return err
	}
	committed := time.Now()
	if w.cfg.AfterCommit != nil {
		if err := w.cfg.AfterCommit(p, ids); err != nil {
			return fmt.Errorf("%w: %w", errInjectedCrash, err)
		}
	}
	w.metrics.flushed.Add(float64(inserted))
	w.metrics.batchSize.Observe(float64(len(batch)))
	w.metrics.flushLatency.Observe(committed.Sub(start).Seconds())
	for _, o := range orders {
		w.metrics.lag.Observe(committed.Sub(o.ReservedAt).Seconds())
	}
	return nil
}

// deadLetter moves an order Postgres can never take to the partition's dead-letter stream and drops its
// pending record, so the partition keeps flowing; flush acknowledges its stream entry. reconcile reports every
// dead letter.
func (w *Writer) deadLetter(ctx context.Context, p int, e rsredis.Entry, cause error) error {
	added, err := w.stream.DeadLetter(ctx, p, e, cause)
	if err != nil || !added {
		return err // not added: it went before, and was counted and logged then
	}
	orderID := ""
	if e.Err == nil {
		orderID = e.Order.ID.String()
	}
	w.metrics.deadLetters.Inc()
	w.log.Error("order moved to the dead letters", zap.Int("partition", p), zap.String("entry", e.ID),
		zap.String("order", orderID), zap.Error(cause))
	return nil
}

// outage logs once when the writer starts failing and once when it recovers, whatever the number of
// partitions and attempts, and makes each failing partition back off (50 ms doubling to 5 s).
type outage struct {
	log     *zap.Logger
	mu      sync.Mutex
	failing bool
	since   time.Time
	delay   time.Duration
}

func (o *outage) failed(ctx context.Context, msg string, err error) {
	o.mu.Lock()
	if !o.failing {
		o.failing, o.since, o.delay = true, time.Now(), 50*time.Millisecond
		o.log.Error(msg+"; retrying with backoff", zap.Error(err))
	} else {
		o.delay = min(o.delay*2, 5*time.Second)
	}
	delay := o.delay
	o.mu.Unlock()
	select {
	case <-ctx.Done():
	case <-time.After(delay):
	}
}

func (o *outage) recovered() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failing {
		o.failing = false
		o.log.Info("writer recovered", zap.Duration("outage", time.Since(o.since)))
	}
}

// WriterMetrics are the writer's Prometheus metrics.
type WriterMetrics struct {
	flushed      prometheus.Counter
	batchSize    prometheus.Histogram
	flushLatency prometheus.Histogram
	lag          prometheus.Histogram
	backlog      *prometheus.GaugeVec
	deadLetters  prometheus.Counter
	claims       prometheus.Counter
}

func newWriterMetrics() *WriterMetrics {
	return &WriterMetrics{
		flushed: prometheus.NewCounter(prometheus.CounterOpts{Name: "recordshop_writer_orders_flushed_total",
			Help: "Orders the writer inserted into Postgres (redeliveries that changed nothing are not counted)."}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "recordshop_writer_batch_size",
			Help: "Entries per Postgres transaction.", Buckets: prometheus.ExponentialBuckets(1, 2, 11)}),
		flushLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "recordshop_writer_flush_seconds",
			Help: "Time of one batch transaction.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "recordshop_writer_lag_seconds",
			Help: "From reservation in Redis to commit in Postgres, per order.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		backlog: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "recordshop_writer_backlog",
			Help: "Confirmed orders not yet in Postgres, per partition."}, []string{"partition"}),
		deadLetters: prometheus.NewCounter(prometheus.CounterOpts{Name: "recordshop_writer_dead_letters_total",
			Help: "Order entries moved to a dead-letter stream."}),
		claims: prometheus.NewCounter(prometheus.CounterOpts{Name: "recordshop_writer_claims_total",
			Help: "Order entries taken over from a consumer that stopped acknowledging."}),
	}
}

// NewWriterMetrics registers the writer's metrics on reg.
func NewWriterMetrics(reg prometheus.Registerer) (*WriterMetrics, error) {
	m := newWriterMetrics()
	for _, c := range []prometheus.Collector{m.flushed, m.batchSize, m.flushLatency, m.lag, m.backlog, m.deadLetters, m.claims} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
