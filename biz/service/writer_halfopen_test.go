package service_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/biz/service"
	"github.com/learecordshop/recordshop/dal/pg"
	rsredis "github.com/learecordshop/recordshop/dal/redis"
	"github.com/learecordshop/recordshop/dal/testenv"
)

// TestWriterSurvivesHalfOpenPostgres puts a blackhole between the writer's pool and Postgres: on command it
// stops passing bytes either way and keeps every socket open, as a path that silently drops packets does
// (nothing is refused, nothing is closed, no answer comes). The writer must notice within its flush deadline
// instead of waiting for as long as the partition lasts, keep retrying, and once the path heals put every
// order confirmed meanwhile into Postgres exactly once, even though the statements it gave up on are delivered
// late and may still run.
func TestWriterSurvivesHalfOpenPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the writer's flush deadline (about 12 s); skipped with -short")
	}
	f := newFixture(t)
	ctx := context.Background()
	const stock = 1000
	d := f.disc(t, stock)
	buyers := make([]model.Customer, 20)
	for i := range buyers {
		buyers[i] = f.customer(t, int64(500+i))
	}

	cfg, err := pg.PoolConfig(f.pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ConnConfig.Host == "" || cfg.ConnConfig.Host[0] == '/' {
		t.Skipf("postgres is reached over a unix socket (%q); the blackhole proxies TCP", cfg.ConnConfig.Host)
	}
	hole := startBlackhole(t, net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port))))
	cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Fallbacks = "127.0.0.1", uint16(hole.port()), nil
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close) // after the writer stops (cleanups run last-in, first-out), before the proxy closes
	store := &recordingStore{BatchStore: pg.NewOrders(pool)}
	wctx, stop := context.WithCancel(ctx)
	w := service.NewWriter(rsredis.NewStreams(f.rdb, f.gate.Keys()), store, service.WriterConfig{Consumer: t.Name(), BatchSize: 500,
		BatchWait: 5 * time.Millisecond, ClaimIdle: time.Minute, MaxDeliveries: 5}, nil, zap.NewNop())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(wctx) }()
	t.Cleanup(func() { stop(); <-done })

	placed := map[uuid.UUID]bool{}
	buy := func(from, to int) {
		t.Helper()
		for _, c := range buyers[from:to] {
			o, _, err := f.orders.Place(ctx, model.OrderCreate{CustomerID: c.ID, DiscID: d.ID, Quantity: 1}, "")
			if err != nil {
				t.Fatal(err)
			}
			placed[o.ID] = true
		}
	}
	inPostgres := func() int {
		var n int
		if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM orders WHERE disc_id = $1`, d.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	buy(0, 5)
	testenv.Eventually(t, 10*time.Second, "the first orders never reached postgres through the proxy", func() (bool, string) {
		n := inPostgres()
		return n == 5, fmt.Sprint(n, " of 5")
	})

	// Cut the path, then sell: Redis confirms the orders, the writer reads them and its flush gets no answer.
	hole.cut()
	cutAt := time.Now()
	dialled := pool.Stat().NewConnsCount()
	buy(5, 15)
	var failed attempt
	testenv.Eventually(t, 15*time.Second, "no flush failed on the dead path", func() (bool, string) {
		for _, a := range store.since(cutAt) {
			if a.err != nil {
				failed = a
				return true, ""
			}
		}
		return false, fmt.Sprint(len(store.since(cutAt)), " attempts since the cut, none failed yet")
	})
	testenv.Eventually(t, 10*time.Second, "the writer did not try again after the failure", func() (bool, string) {
		n := len(store.since(failed.end))
		return n > 0, fmt.Sprint(n, " attempts after the failure")
	})
	if n := inPostgres(); n != 5 {
		t.Fatalf("%d orders of the disc reached postgres while the path was cut; want still 5", n)
	}
	buy(15, 20)
	hole.heal()
	healedAt := time.Now()

	testenv.Eventually(t, 30*time.Second, "not every confirmed order reached postgres after the path healed", func() (bool, string) {
		n := inPostgres()
		return n >= len(placed), fmt.Sprintf("%d of %d", n, len(placed))
	})
	recovered := time.Since(healedAt)
	if fresh := pool.Stat().NewConnsCount() - dialled; fresh == 0 {
		t.Errorf("the writer recovered without dialling a new connection; the one that went dead must be dropped, not reused")
	}
	rows, err := f.pool.Query(ctx, `SELECT id, count(*) OVER (PARTITION BY id) FROM orders WHERE disc_id = $1`, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uuid.UUID]bool{}
	for rows.Next() {
		var id uuid.UUID
		var copies int
		if err := rows.Scan(&id, &copies); err != nil {
			t.Fatal(err)
		}
		if copies != 1 || !placed[id] {
			t.Errorf("order %s is in postgres %d times (confirmed by redis: %v); want once, and only confirmed orders", id, copies, placed[id])
		}
		seen[id] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for id := range placed {
		if !seen[id] {
			t.Errorf("confirmed order %s never reached postgres", id)
		}
	}
	var pgStock int64
	if err := f.pool.QueryRow(ctx, `SELECT stock FROM discs WHERE id = $1`, d.ID).Scan(&pgStock); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the writer did not acknowledge every entry", func() (bool, string) {
		n, err := f.rdb.HLen(ctx, f.gate.Keys().Pending(f.gate.Keys().Partition(d.ID))).Result()
		return err == nil && n == 0, fmt.Sprint(n, " pending ", err)
	})
	if want := int64(stock - len(placed)); pgStock != want || f.avail(t, d.ID) != want {
		t.Errorf("postgres stock %d, redis available %d; want both %d (%d sold of %d)", pgStock, f.avail(t, d.ID), want, len(placed), stock)
	}
	t.Logf("the first flush on the cut path failed %v after it began (%v after the cut) and was retried; "+
		"%d flush attempts in all; every order was in postgres %v after the path healed",
		failed.end.Sub(failed.start).Round(time.Millisecond), failed.end.Sub(cutAt).Round(time.Millisecond),
		len(store.since(time.Time{})), recovered.Round(time.Millisecond))
}

// recordingStore records every InsertBatch the writer makes: when it began, ended and how.
type recordingStore struct {
	service.BatchStore
	mu       sync.Mutex
	attempts []attempt
}

type attempt struct {
	start, end time.Time
	err        error
}

func (s *recordingStore) InsertBatch(ctx context.Context, orders []model.Order) (int, error) {
	start := time.Now()
	n, err := s.BatchStore.InsertBatch(ctx, orders)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts = append(s.attempts, attempt{start: start, end: time.Now(), err: err})
	return n, err
}

// since returns the attempts that began after t.
func (s *recordingStore) since(t time.Time) []attempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []attempt
	for _, a := range s.attempts {
		if a.start.After(t) {
			out = append(out, a)
		}
	}
	return out
}

// blackhole is a TCP proxy on 127.0.0.1. Cut, it stops passing bytes in both directions, and stops dialling
// the target for new connections, while it keeps every socket open: its kernel goes on accepting and
// acknowledging, so the client sees a peer that never answers. Healed, it passes on what it held, in order,
// as TCP does once a partition heals and its retransmissions get through.
type blackhole struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	open   chan struct{} // closed while bytes flow
	done   chan struct{} // closed when the test ends
	conns  []net.Conn
	wg     sync.WaitGroup
}

func startBlackhole(t *testing.T, target string) *blackhole {
	t.Helper()
	ln := testenv.Listen(t)
	b := &blackhole{ln: ln, target: target, open: make(chan struct{}), done: make(chan struct{})}
	close(b.open)
	b.wg.Add(1)
	go b.accept()
	t.Cleanup(func() {
		close(b.done)
		_ = ln.Close()
		b.mu.Lock()
		for _, c := range b.conns {
			_ = c.Close()
		}
		b.mu.Unlock()
		b.wg.Wait()
	})
	return b
}

func (b *blackhole) port() int { return b.ln.Addr().(*net.TCPAddr).Port }

// cut stops every byte; heal lets them through again.
func (b *blackhole) cut() {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-b.open:
		b.open = make(chan struct{})
	default:
	}
}

func (b *blackhole) heal() {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-b.open:
	default:
		close(b.open)
	}
}

// pass waits until bytes may flow; false means the test is over.
func (b *blackhole) pass() bool {
	b.mu.Lock()
	open := b.open
	b.mu.Unlock()
	select {
	case <-open:
		return true
	case <-b.done:
		return false
	}
}

func (b *blackhole) track(c net.Conn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.conns = append(b.conns, c)
}

func (b *blackhole) accept() {
	defer b.wg.Done()
	for {
		client, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.track(client)
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			if !b.pass() { // a cut path does not reach the server
				return
			}
			server, err := net.Dial("tcp", b.target)
			if err != nil {
				_ = client.Close()
				return
			}
			b.track(server)
			b.wg.Add(2)
			go b.forward(server, client)
			go b.forward(client, server)
		}()
	}
}

// forward copies src to dst, holding each chunk while the path is cut. An end of src reaches dst only when
// the path is open, like a FIN.
func (b *blackhole) forward(dst, src net.Conn) {
	defer b.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !b.pass() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				_ = src.Close()
				return
			}
		}
		if err != nil {
			if err == io.EOF && b.pass() {
				_ = dst.(*net.TCPConn).CloseWrite()
				return
			}
			_ = dst.Close()
			return
		}
	}
}
