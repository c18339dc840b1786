package service_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/biz/service"
	"github.com/learecordshop/recordshop/dal/pg"
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

// startWriter runs a writer over the fixture until the test ends.
func (f *fixture) startWriter(t *testing.T, size int, wait time.Duration) *batches {
	t.Helper()
	b := &batches{}
	ctx, cancel := context.WithCancel(context.Background())
	w := service.NewWriter(f.gate, pg.NewOrders(f.pool), service.WriterConfig{Consumer: t.Name(), BatchSize: size,
		BatchWait: wait, ClaimIdle: time.Minute, MaxDeliveries: 5, AfterCommit: b.afterCommit}, nil, zap.NewNop())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return b
}

func (f *fixture) buy(t *testing.T, discID int64, customers []model.Customer) {
	t.Helper()
	for _, c := range customers {
		if _, _, err := f.orders.Place(context.Background(), model.OrderCreate{CustomerID: c.ID, DiscID: discID, Quantity: 1}, ""); err != nil {
			t.Fatal(err)
		}
	}
}

// waitOrders waits until Postgres holds n orders of the disc and returns how long that took.
func (f *fixture) waitOrders(t *testing.T, discID int64, n int, within time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(20 * time.Millisecond) {
		var got int
		if err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM orders WHERE disc_id = $1`, discID).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("postgres holds %d orders of disc %d after %s; want %d", got, discID, within, n)
		}
	}
}

func TestWriterBatchGathersOrdersAfterItsFirst(t *testing.T) {
	f := newFixture(t)
	d := f.disc(t, 100)
	buyers := make([]model.Customer, 10)
	for i := range buyers {
		buyers[i] = f.customer(t, int64(i))
	}
	b := f.startWriter(t, 500, 2*time.Second)
	f.buy(t, d.ID, buyers[:1])
	time.Sleep(200 * time.Millisecond) // the writer has read the first order and is gathering
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
	b := f.startWriter(t, 5, 10*time.Minute)
	f.waitOrders(t, d.ID, 10, 30*time.Second)
	if got := b.get(); len(got) != 2 || got[0] != 5 || got[1] != 5 {
		t.Fatalf("batches committed: %v; want two full batches of 5", got)
	}
}
