package service_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

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
	if got := b.get(); len(got) != 2 || got[0] != 5 || got[1] != 5 {
		t.Fatalf("batches committed: %v; want two full batches of 5", got)
	}
}
