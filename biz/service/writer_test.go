package service_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/biz/service"
	"github.com/learecordshop/recordshop/dal/pg"
	rsredis "github.com/learecordshop/recordshop/dal/redis"
	"github.com/learecordshop/recordshop/dal/testenv"
)

// batches records the size of every batch the writer commits.
type batches struct {
	mu    sync.Mutex
	sizes []int
}

func (b *batches) afterCommit(_ int, ids []string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sizes = append(b.sizes, len(ids))
	return nil
}

func (b *batches) get() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]int(nil), b.sizes...)
}

// readSignal is the writer's order stream on Redis with a signal: read is closed the first time a read of new
// entries that may wait (not the gathering read after BatchWait) returned some, that is when the writer starts
// gathering its batch.
type readSignal struct {
	service.OrderStream
	once sync.Once
	read chan struct{}
}

func (s *readSignal) ReadNew(ctx context.Context, p int, consumer string, block time.Duration, count int) ([]rsredis.Entry, error) {
	entries, err := s.OrderStream.ReadNew(ctx, p, consumer, block, count)
	if len(entries) > 0 && block >= 0 {
		s.once.Do(func() { close(s.read) })
	}
	return entries, err
}

// startWriter runs a writer over the fixture until the test ends; read is closed when it first read new orders.
func (f *fixture) startWriter(t *testing.T, size int, wait time.Duration) (b *batches, read <-chan struct{}) {
	t.Helper()
	b = &batches{}
	stream := &readSignal{OrderStream: rsredis.NewStreams(f.rdb, f.gate.Keys()), read: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	w := service.NewWriter(stream, pg.NewOrders(f.pool), service.WriterConfig{Consumer: t.Name(), BatchSize: size,
		BatchWait: wait, ClaimIdle: time.Minute, MaxDeliveries: 5, AfterCommit: b.afterCommit}, nil, zap.NewNop())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return b, stream.read
}

func (f *fixture) buy(t *testing.T, discID int64, customers []model.Customer) {
	t.Helper()
	for _, c := range customers {
		if _, _, err := f.orders.Place(context.Background(), model.OrderCreate{CustomerID: c.ID, DiscID: discID, Quantity: 1}, ""); err != nil {
			t.Fatal(err)
		}
	}
}

// waitOrders waits until Postgres holds n orders of the disc.
func (f *fixture) waitOrders(t *testing.T, discID int64, n int, within time.Duration) {
	t.Helper()
	var got int
	testenv.Eventually(t, within, fmt.Sprintf("postgres to hold %d orders of disc %d", n, discID), func() bool {
		if err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM orders WHERE disc_id = $1`, discID).Scan(&got); err != nil {
			t.Fatal(err)
		}
		return got == n
	})
}

func TestWriterBatchGathersOrdersAfterItsFirst(t *testing.T) {
	f := newFixture(t)
	d := f.disc(t, 100)
	buyers := make([]model.Customer, 10)
	for i := range buyers {
		buyers[i] = f.customer(t, int64(i))
	}
	b, read := f.startWriter(t, 500, 2*time.Second)
	f.buy(t, d.ID, buyers[:1])
	select {
	case <-read: // the writer has read the first order and gathers for 2 s
	case <-time.After(30 * time.Second):
		t.Fatal("the writer did not read the first order")
	}
	f.buy(t, d.ID, buyers[1:])
	f.waitOrders(t, d.ID, 10, 30*time.Second)
	testenv.Eventually(t, 30*time.Second, "the commit recorded", func() bool { return len(b.get()) >= 1 })
	if got := b.get(); len(got) != 1 || got[0] != 10 {
		t.Fatalf("batches committed: %v; want one batch of all 10 orders", got)
	}
}

func TestWriterFullBatchDoesNotWait(t *testing.T) {
	f := newFixture(t)
	d := f.disc(t, 100)
	buyers := make([]model.Customer, 10)
	for i := range buyers {
		buyers[i] = f.customer(t, int64(100+i))
	}
	f.buy(t, d.ID, buyers)
	// A gathering window far longer than the test: only full batches can land in time.
	b, _ := f.startWriter(t, 5, 10*time.Minute)
	f.waitOrders(t, d.ID, 10, 30*time.Second)
	// The rows are visible at the commit; the batch is recorded just after it.
	testenv.Eventually(t, 30*time.Second, "both commits recorded", func() bool { return len(b.get()) >= 2 })
	if got := b.get(); len(got) != 2 || got[0] != 5 || got[1] != 5 {
		t.Fatalf("batches committed: %v; want two full batches of 5", got)
	}
}

// failFirstAck is the writer's order stream on Redis whose first acknowledgement is lost, as when the writer
// dies after it dead-lettered an order and before it acknowledged the order's stream entry.
type failFirstAck struct {
	service.OrderStream
	failed atomic.Bool
}

func (s *failFirstAck) AckAndDrop(ctx context.Context, p int, done []rsredis.Entry) error {
	if s.failed.CompareAndSwap(false, true) {
		return errors.New("connection reset by peer")
	}
	return s.OrderStream.AckAndDrop(ctx, p, done)
}

// TestWriterEntryWithAPoisonOrder puts three orders in one stream entry, as reserve.lua writes a batch, the
// middle one for a customer Postgres does not know. The other two land, the poison order reaches the dead
// letters once although the first acknowledgement is lost and the entry is read again, and nothing is left in
// the stream or the pending orders.
func TestWriterEntryWithAPoisonOrder(t *testing.T) {
	f := newFixture(t)
	d := f.disc(t, 100)
	keys := f.gate.Keys()
	p := keys.Partition(d.ID)
	ctx := context.Background()
	buyers := []int64{f.customer(t, 400).ID, 1 << 50, f.customer(t, 401).ID}
	recs := make([]string, len(buyers))
	for i, c := range buyers {
		o := model.Order{ID: uuid.Must(uuid.NewV7()), CustomerID: c, DiscID: d.ID, Quantity: 1, UnitPriceCents: d.PriceCents,
			ReservedAt: time.Now()}
		recs[i] = rsredis.Record(o)
		if err := f.rdb.HSet(ctx, keys.Pending(p), o.ID.String(), recs[i]).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.rdb.XAdd(ctx, &goredis.XAddArgs{Stream: keys.Stream(p), Values: map[string]any{"o": strings.Join(recs, "\n")}}).Err(); err != nil {
		t.Fatal(err)
	}

	stream := &failFirstAck{OrderStream: rsredis.NewStreams(f.rdb, keys)}
	wctx, cancel := context.WithCancel(ctx)
	w := service.NewWriter(stream, pg.NewOrders(f.pool), service.WriterConfig{Consumer: t.Name(), BatchSize: 10,
		ClaimIdle: time.Minute, MaxDeliveries: 1}, nil, zap.NewNop())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(wctx) }()
	t.Cleanup(func() { cancel(); <-done })

	testenv.Eventually(t, 30*time.Second, "the entry acknowledged and its pending records dropped", func() bool {
		n, err := f.rdb.XLen(ctx, keys.Stream(p)).Result()
		if err != nil {
			t.Fatal(err)
		}
		left, err := f.rdb.HLen(ctx, keys.Pending(p)).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n == 0 && left == 0
	})
	if !stream.failed.Load() {
		t.Fatal("no acknowledgement was lost: the test proves nothing")
	}
	var landed int
	if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM orders WHERE disc_id = $1`, d.ID).Scan(&landed); err != nil {
		t.Fatal(err)
	}
	if landed != 2 {
		t.Errorf("postgres holds %d orders of the disc, want the 2 good ones", landed)
	}
	dead, err := f.rdb.XRange(ctx, keys.DeadLetters(p), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 || dead[0].Values["o"] != recs[1] {
		t.Fatalf("%d dead letters; want the poison order's record once", len(dead))
	}
}
