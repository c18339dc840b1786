package service_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/biz/service"
	rsredis "github.com/learecordshop/recordshop/dal/redis"
	"github.com/learecordshop/recordshop/dal/testenv"
)

// The writer's policy, case by case, over an in-memory stream and batch store: what it batches, when it waits,
// what it retries, what it gives up on, what it takes over, and what it finishes on shutdown. The real-Redis
// and real-Postgres tests (writer_test.go, writer_halfopen_test.go, the fault tests) prove the same code against
// the servers; these pin the rules themselves, fast and without timing luck.
//
// Orders are named: a name is the order's idempotency key, so both fakes can say which orders they saw.

// fakeStream is one partition stream with one consumer group, kept as Redis keeps it: entries in id order, the
// last entry delivered to the group, and the entries delivered and not acknowledged (their owner, when they
// were last delivered and how often).
type fakeStream struct {
	mu        sync.Mutex
	seq       int
	stream    []fakeEntry // what is still in the stream, in id order (acknowledged entries are dropped)
	delivered int         // sequence number of the last entry delivered to the group
	unacked   map[string]*fakeDelivery
	changed   chan struct{} // closed and replaced when entries are added: wakes a blocked ReadNew
	acked     []string      // names of the entries acknowledged and dropped, in order
	dead      []string      // names of the entries dead-lettered, and why
	ensured   int           // EnsureGroup calls

	loseGroup   bool                      // the group is lost (Redis lost its data) just before the next read
	groupGone   bool                      // reads answer ErrNoGroup until EnsureGroup makes the group again
	onRead      func(got []rsredis.Entry) // runs after a ReadNew that returned entries, before it returns
	firstRead   chan struct{}             // closed when a ReadNew first returned entries
	firstReadAt time.Time
}

type fakeEntry struct {
	seq   int
	entry rsredis.Entry
}

type fakeDelivery struct {
	fakeEntry
	owner      string
	at         time.Time
	deliveries int
}

func newFakeStream() *fakeStream {
	return &fakeStream{unacked: map[string]*fakeDelivery{}, changed: make(chan struct{}), firstRead: make(chan struct{})}
}

// fakeOrder is a confirmed order of 2 units named name, as reserve.lua would have made it.
func fakeOrder(name string) model.Order {
	return model.Order{ID: uuid.Must(uuid.NewV7()), CustomerID: 1, DiscID: 7, Quantity: 2, UnitPriceCents: 1000,
		ReservedAt: time.UnixMilli(1_767_225_600_000).UTC(), IdempotencyKey: name}
}

// entryName is the name of an entry's order, or an unreadable entry's record.
func entryName(e rsredis.Entry) string {
	if e.Err != nil {
		return e.Record
	}
	return e.Order.IdempotencyKey
}

// add appends orders (or, for a name starting with "junk", a record no one can read) to the stream, as
// reserve.lua and rsredis.Streams would write and read them, and returns their entries.
func (s *fakeStream) add(names ...string) []rsredis.Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []rsredis.Entry
	for _, name := range names {
		s.seq++
		rec := rsredis.Record(fakeOrder(name))
		if strings.HasPrefix(name, "junk") {
			rec = name
		}
		e := rsredis.Entry{ID: fmt.Sprintf("%d-0", s.seq), Record: rec}
		if e.Order, e.Err = rsredis.ParseRecord(rec); e.Err == nil {
			e.Order.StreamID = e.ID
		}
		s.stream = append(s.stream, fakeEntry{seq: s.seq, entry: e})
		out = append(out, e)
	}
	close(s.changed)
	s.changed = make(chan struct{})
	return out
}

// deliverTo delivers the next n entries to consumer, as if it read them an hour ago (it has been dead since).
func (s *fakeStream) deliverTo(consumer string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deliver(consumer, n, time.Now().Add(-time.Hour))
}

// deliver delivers to consumer up to n entries the group has not had yet.
func (s *fakeStream) deliver(consumer string, n int, at time.Time) []rsredis.Entry {
	var out []rsredis.Entry
	for _, fe := range s.stream {
		if fe.seq <= s.delivered || len(out) == n {
			continue
		}
		s.delivered = fe.seq
		s.unacked[fe.entry.ID] = &fakeDelivery{fakeEntry: fe, owner: consumer, at: at, deliveries: 1}
		out = append(out, fe.entry)
	}
	return out
}

func (s *fakeStream) Partitions() int { return 1 }

func (s *fakeStream) EnsureGroup(context.Context, int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensured++
	s.groupGone = false
	return nil
}

// lostGroup is the answer of a read to a group that is gone.
func (s *fakeStream) lostGroup() error {
	if s.loseGroup {
		s.loseGroup, s.groupGone = false, true
	}
	if s.groupGone {
		return fmt.Errorf("fake: NOGROUP: %w", rsredis.ErrNoGroup)
	}
	return nil
}

func (s *fakeStream) ReadOwn(_ context.Context, _ int, consumer string, count int) ([]rsredis.Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.lostGroup(); err != nil {
		return nil, err
	}
	return s.redeliver(func(d *fakeDelivery) bool { return d.owner == consumer }, consumer, count), nil
}

// redeliver delivers again, oldest first, up to count unacknowledged entries that match.
func (s *fakeStream) redeliver(match func(*fakeDelivery) bool, consumer string, count int) []rsredis.Entry {
	var ds []*fakeDelivery
	for _, d := range s.unacked {
		if match(d) {
			ds = append(ds, d)
		}
	}
	slices.SortFunc(ds, func(a, b *fakeDelivery) int { return a.seq - b.seq })
	var out []rsredis.Entry
	for _, d := range ds[:min(count, len(ds))] {
		d.owner, d.at = consumer, time.Now()
		d.deliveries++
		out = append(out, d.entry)
	}
	return out
}

func (s *fakeStream) ReadNew(ctx context.Context, _ int, consumer string, block time.Duration, count int) ([]rsredis.Entry, error) {
	var wait <-chan time.Time
	if block >= 0 {
		t := time.NewTimer(block)
		defer t.Stop()
		wait = t.C
	}
	for {
		s.mu.Lock()
		if err := s.lostGroup(); err != nil {
			s.mu.Unlock()
			return nil, err
		}
		got := s.deliver(consumer, count, time.Now())
		changed, onRead := s.changed, s.onRead
		first := len(got) > 0 && s.firstReadAt.IsZero()
		if first {
			s.firstReadAt = time.Now()
		}
		s.mu.Unlock()
		if len(got) > 0 {
			if onRead != nil {
				onRead(got)
			}
			if first {
				close(s.firstRead)
			}
			return got, nil
		}
		if wait == nil {
			return nil, nil
		}
		select {
		case <-changed:
		case <-wait:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (s *fakeStream) Claim(_ context.Context, _ int, consumer string, minIdle time.Duration, _ string, count int) ([]rsredis.Entry, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	idle := func(d *fakeDelivery) bool { return time.Since(d.at) >= minIdle }
	return s.redeliver(idle, consumer, count), "", nil
}

func (s *fakeStream) drop(id string) {
	delete(s.unacked, id)
	s.stream = slices.DeleteFunc(s.stream, func(fe fakeEntry) bool { return fe.entry.ID == id })
}

func (s *fakeStream) AckAndDrop(_ context.Context, _ int, done []rsredis.Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range done {
		s.drop(e.ID)
		s.acked = append(s.acked, entryName(e))
	}
	return nil
}

func (s *fakeStream) DeadLetter(_ context.Context, _ int, e rsredis.Entry, cause error) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	why := "refused by postgres"
	if !errors.Is(cause, model.ErrConstraint) {
		why = "unreadable"
	}
	s.dead = append(s.dead, entryName(e)+": "+why)
	return true, nil
}

func (s *fakeStream) Backlog(context.Context, int) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(len(s.stream)), nil
}

// drained reports whether every entry left the stream (acknowledged or dead-lettered).
func (s *fakeStream) drained() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.stream) == 0 && len(s.unacked) == 0
}

// fakeStore is the orders table and the discs' stock, as InsertBatch keeps them: one transaction per call that
// inserts the orders not there yet (ON CONFLICT (id) DO NOTHING) and takes only their units.
type fakeStore struct {
	mu    sync.Mutex
	rows  map[uuid.UUID]string // order id -> name
	units int64                // units taken from the discs
	calls []fakeStoreCall

	fail    func(call int, orders []model.Order) error // an answer other than success; nil: always succeeds
	entered chan struct{}                              // when set, told of each call as it begins
	hold    chan struct{}                              // when set, each call waits for it to close
}

type fakeStoreCall struct {
	names      []string
	err        error
	start, end time.Time
	ctxErr     error // the context's error when the call ended
}

func newFakeStore() *fakeStore { return &fakeStore{rows: map[uuid.UUID]string{}} }

// have puts orders in the table already, as a writer that committed them and died before acknowledging did.
func (s *fakeStore) have(entries []rsredis.Entry) {
	for _, e := range entries {
		s.rows[e.Order.ID] = e.Order.IdempotencyKey
		s.units += int64(e.Order.Quantity)
	}
}

func (s *fakeStore) InsertBatch(ctx context.Context, orders []model.Order) (int, error) {
	call := fakeStoreCall{start: time.Now()}
	for _, o := range orders {
		call.names = append(call.names, o.IdempotencyKey)
	}
	if s.entered != nil {
		select {
		case s.entered <- struct{}{}:
		default:
		}
	}
	if s.hold != nil {
		select {
		case <-s.hold:
		case <-ctx.Done():
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer func() { call.end, call.ctxErr = time.Now(), ctx.Err(); s.calls = append(s.calls, call) }()
	if err := ctx.Err(); err != nil {
		call.err = err
		return 0, err
	}
	if s.fail != nil {
		if call.err = s.fail(len(s.calls), orders); call.err != nil {
			return 0, call.err
		}
	}
	n := 0
	for _, o := range orders {
		if _, ok := s.rows[o.ID]; !ok {
			s.rows[o.ID] = o.IdempotencyKey
			s.units += int64(o.Quantity)
			n++
		}
	}
	return n, nil
}

// trace is every call as "names" for a commit, "names: refused" for a data error, "names: failed" otherwise.
func (s *fakeStore) trace() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.calls))
	for i, c := range s.calls {
		out[i] = strings.Join(c.names, " ")
		switch {
		case errors.Is(c.err, model.ErrConstraint):
			out[i] += ": refused"
		case c.err != nil:
			out[i] += ": failed"
		}
	}
	return out
}

func (s *fakeStore) stored() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, n := range s.rows {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// refuseOrder answers a data error (a CHECK or foreign key, say) for every batch that holds the order named poison.
func refuseOrder(poison string) func(int, []model.Order) error {
	return func(_ int, orders []model.Order) error {
		for _, o := range orders {
			if o.IdempotencyKey == poison {
				return fmt.Errorf("insert order %s: %w", poison, model.ErrConstraint)
			}
		}
		return nil
	}
}

// policyRun is one writer over the fakes.
type policyRun struct {
	t      *testing.T
	stream *fakeStream
	store  *fakeStore
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

func startPolicyRun(t *testing.T, cfg service.WriterConfig, stream *fakeStream, store *fakeStore) *policyRun {
	t.Helper()
	reg := prometheus.NewRegistry()
	metrics, err := service.NewWriterMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	w := service.NewWriter(stream, store, cfg, metrics, zap.NewNop())
	ctx, cancel := context.WithCancel(context.Background())
	r := &policyRun{t: t, stream: stream, store: store, reg: reg, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- w.Run(ctx) }()
	t.Cleanup(func() { _ = r.stop() })
	return r
}

// stop cancels the writer's context and waits for Run to return; a writer that does not stop fails the test.
func (r *policyRun) stop() error {
	r.once.Do(func() {
		r.cancel()
		select {
		case r.err = <-r.done:
		case <-time.After(30 * time.Second):
			r.t.Errorf("the writer did not stop within 30s of its context ending")
		}
	})
	return r.err
}

// counter is the value of one of the writer's counters.
func (r *policyRun) counter(metric string) float64 {
	r.t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		r.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == metric {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

// policyOutcome is what a case leaves behind once the writer stopped.
type policyOutcome struct {
	Trace   []string // the store's calls, in order (fakeStore.trace)
	Acked   []string // entries acknowledged and dropped, in order
	Dead    []string // entries dead-lettered, and why
	Stored  []string // orders in the table, sorted (each once: the table is keyed by id)
	Units   int64    // units taken from the discs (2 per order)
	Flushed float64  // recordshop_writer_orders_flushed_total: orders InsertBatch reported as new
	DeadN   float64  // recordshop_writer_dead_letters_total
	Claims  float64  // recordshop_writer_claims_total
}

func TestWriterPolicy(t *testing.T) {
	base := service.WriterConfig{Consumer: "w1", BatchSize: 10, BatchWait: 20 * time.Millisecond,
		ClaimIdle: time.Hour, MaxDeliveries: 3}
	cases := []struct {
		name  string
		cfg   func(c *service.WriterConfig)
		setup func(s *fakeStream, st *fakeStore)
		// drive runs while the writer does and returns once the case played out; nil waits until the stream
		// is drained.
		drive func(t *testing.T, r *policyRun)
		check func(t *testing.T, r *policyRun) // more than the outcome; nil: nothing more
		want  policyOutcome
	}{{
		name: "full batches are written without waiting to gather",
		// A gathering window far longer than the test: only full batches can land in time.
		cfg:   func(c *service.WriterConfig) { c.BatchSize, c.BatchWait = 3, time.Hour },
		setup: func(s *fakeStream, _ *fakeStore) { s.add("o1", "o2", "o3", "o4", "o5", "o6") },
		want: policyOutcome{Trace: []string{"o1 o2 o3", "o4 o5 o6"}, Acked: []string{"o1", "o2", "o3", "o4", "o5", "o6"},
			Stored: []string{"o1", "o2", "o3", "o4", "o5", "o6"}, Units: 12, Flushed: 6},
	}, {
		name:  "a partial batch is written after the wait",
		cfg:   func(c *service.WriterConfig) { c.BatchWait = 100 * time.Millisecond },
		setup: func(s *fakeStream, _ *fakeStore) { s.add("o1", "o2") },
		check: func(t *testing.T, r *policyRun) {
			if waited := r.store.calls[0].start.Sub(r.stream.firstReadAt); waited < 100*time.Millisecond {
				t.Errorf("the batch was written %v after its first entries were read; want it to gather for BatchWait (100ms)", waited)
			}
		},
		want: policyOutcome{Trace: []string{"o1 o2"}, Acked: []string{"o1", "o2"}, Stored: []string{"o1", "o2"},
			Units: 4, Flushed: 2},
	}, {
		name: "orders that arrive during the wait join the batch",
		setup: func(s *fakeStream, _ *fakeStore) {
			s.add("o1", "o2")
			var once sync.Once
			s.onRead = func([]rsredis.Entry) { once.Do(func() { s.add("o3", "o4", "o5") }) }
		},
		want: policyOutcome{Trace: []string{"o1 o2 o3 o4 o5"}, Acked: []string{"o1", "o2", "o3", "o4", "o5"},
			Stored: []string{"o1", "o2", "o3", "o4", "o5"}, Units: 10, Flushed: 5},
	}, {
		name:  "an unreadable entry is dead-lettered at once and its batch goes on",
		setup: func(s *fakeStream, _ *fakeStore) { s.add("a", "junk", "b") },
		want: policyOutcome{Trace: []string{"a b"}, Acked: []string{"a", "junk", "b"}, Dead: []string{"junk: unreadable"},
			Stored: []string{"a", "b"}, Units: 4, Flushed: 2, DeadN: 1},
	}, {
		name: "an order postgres refuses is dead-lettered after MaxDeliveries without holding back its batch",
		setup: func(s *fakeStream, st *fakeStore) {
			s.add("a", "p", "b")
			st.fail = refuseOrder("p")
		},
		// The batch is refused, so it is written entry by entry: a and b land at once. p waits in the
		// writer's history and is tried again (as a batch of one, then alone) until its third delivery.
		want: policyOutcome{
			Trace: []string{"a p b: refused", "a", "p: refused", "b",
				"p: refused", "p: refused", "p: refused", "p: refused"},
			Acked: []string{"a", "b", "p"}, Dead: []string{"p: refused by postgres"},
			Stored: []string{"a", "b"}, Units: 4, Flushed: 2, DeadN: 1},
	}, {
		name: "postgres down: the batch is retried with backoff and lands once",
		setup: func(s *fakeStream, st *fakeStore) {
			s.add("a", "b")
			st.fail = func(call int, _ []model.Order) error {
				if call < 3 {
					return errors.New("dial tcp: connection refused")
				}
				return nil
			}
		},
		check: func(t *testing.T, r *policyRun) {
			r.store.mu.Lock()
			defer r.store.mu.Unlock()
			// 50 ms after the first failure, doubling: the writer does not hammer a Postgres that is down.
			for i := 1; i < len(r.store.calls); i++ {
				gap := r.store.calls[i].start.Sub(r.store.calls[i-1].end)
				if want := 50 * time.Millisecond << (i - 1); gap < want {
					t.Errorf("attempt %d began %v after attempt %d failed; want a backoff of at least %v", i+1, gap, i, want)
				}
			}
		},
		want: policyOutcome{Trace: []string{"a b: failed", "a b: failed", "a b: failed", "a b"},
			Acked: []string{"a", "b"}, Stored: []string{"a", "b"}, Units: 4, Flushed: 2},
	}, {
		name: "a redelivered entry changes nothing",
		// The writer committed a and died before acknowledging it; restarted, it finds a in its history.
		setup: func(s *fakeStream, st *fakeStore) {
			st.have(s.add("a"))
			s.deliverTo("w1", 1)
			s.add("b")
		},
		want: policyOutcome{Trace: []string{"a", "b"}, Acked: []string{"a", "b"}, Stored: []string{"a", "b"},
			Units: 4, Flushed: 1},
	}, {
		name: "entries a dead consumer left are claimed",
		cfg:  func(c *service.WriterConfig) { c.ClaimIdle = 30 * time.Millisecond },
		setup: func(s *fakeStream, _ *fakeStore) {
			s.add("a", "b")
			s.deliverTo("w0", 2)
		},
		want: policyOutcome{Trace: []string{"a b"}, Acked: []string{"a", "b"}, Stored: []string{"a", "b"},
			Units: 4, Flushed: 2, Claims: 2},
	}, {
		name: "a group lost with redis' data is made again",
		setup: func(s *fakeStream, _ *fakeStore) {
			s.add("a", "b")
			s.loseGroup = true
		},
		check: func(t *testing.T, r *policyRun) {
			if r.stream.ensured != 2 {
				t.Errorf("EnsureGroup called %d times; want 2 (at start, and after NOGROUP)", r.stream.ensured)
			}
		},
		want: policyOutcome{Trace: []string{"a b"}, Acked: []string{"a", "b"}, Stored: []string{"a", "b"},
			Units: 4, Flushed: 2},
	}, {
		name: "a shutdown while a batch gathers writes what was read",
		cfg:  func(c *service.WriterConfig) { c.BatchWait = time.Hour },
		setup: func(s *fakeStream, _ *fakeStore) {
			s.add("a", "b")
		},
		drive: func(t *testing.T, r *policyRun) {
			select {
			case <-r.stream.firstRead:
			case <-time.After(10 * time.Second):
				t.Fatal("the writer did not read a and b")
			}
			if err := r.stop(); err != nil {
				t.Errorf("Run: %v", err)
			}
		},
		want: policyOutcome{Trace: []string{"a b"}, Acked: []string{"a", "b"}, Stored: []string{"a", "b"},
			Units: 4, Flushed: 2},
	}, {
		name: "a shutdown during the insert lets it land and be acknowledged",
		setup: func(s *fakeStream, st *fakeStore) {
			s.add("a", "b")
			st.entered, st.hold = make(chan struct{}, 1), make(chan struct{})
		},
		drive: func(t *testing.T, r *policyRun) {
			select {
			case <-r.store.entered:
			case <-time.After(10 * time.Second):
				t.Fatal("the writer did not begin inserting a and b")
			}
			r.cancel() // the shutdown begins while Postgres has the batch
			close(r.store.hold)
			if err := r.stop(); err != nil {
				t.Errorf("Run: %v", err)
			}
		},
		check: func(t *testing.T, r *policyRun) {
			if err := r.store.calls[0].ctxErr; err != nil {
				t.Errorf("the insert's context ended with the shutdown (%v); it must get its own deadline", err)
			}
		},
		want: policyOutcome{Trace: []string{"a b"}, Acked: []string{"a", "b"}, Stored: []string{"a", "b"},
			Units: 4, Flushed: 2},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := base
			if c.cfg != nil {
				c.cfg(&cfg)
			}
			stream, store := newFakeStream(), newFakeStore()
			c.setup(stream, store)
			r := startPolicyRun(t, cfg, stream, store)
			if c.drive != nil {
				c.drive(t, r)
			} else {
				testenv.Eventually(t, 10*time.Second, "every entry acknowledged or dead-lettered", stream.drained)
			}
			if err := r.stop(); err != nil {
				t.Errorf("Run: %v", err)
			}
			stream.mu.Lock()
			got := policyOutcome{Trace: store.trace(), Acked: stream.acked, Dead: stream.dead, Stored: store.stored(),
				Units: store.units, Flushed: r.counter("recordshop_writer_orders_flushed_total"),
				DeadN:  r.counter("recordshop_writer_dead_letters_total"),
				Claims: r.counter("recordshop_writer_claims_total")}
			left := len(stream.stream)
			stream.mu.Unlock()
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("outcome (-want +got):\n%s", diff)
			}
			if left != 0 {
				t.Errorf("%d entries are still in the stream after the writer stopped", left)
			}
			if c.check != nil {
				c.check(t, r)
			}
		})
	}
}
