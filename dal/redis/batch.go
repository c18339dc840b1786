package redis

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/learecordshop/recordshop/biz/model"
)

// maxBatch bounds the reservations of one script call: its keys and arguments, and how long it holds Redis.
const maxBatch = 64

// batches gathers reservations per partition. A reservation that finds its partition idle goes at once,
// alone; one that finds a batch of its partition on its way to Redis waits for it, and everything that
// waited goes together next, up to maxBatch. No timer is involved: a batch is as large as the load made it
// while the one before was out, so an idle shop answers as fast as with one call per order and a busy one
// pays the script's fixed cost and the round trip once per batch instead of once per order.
type batches struct {
	g     *Gate
	mu    sync.Mutex
	parts map[int]*partBatch
}

// partBatch is one partition's queue and whether a batch of it is out.
type partBatch struct {
	out   bool
	queue []*joined
}

// joined is one reservation waiting for its batch's answer.
type joined struct {
	ctx  context.Context
	r    Reservation
	done chan batchAnswer
}

// batchAnswer is one reservation's part of a batch's answer.
type batchAnswer struct {
	ans    answer
	stream string    // the stream entry of the batch's confirmed orders
	at     time.Time // when the batch reserved its orders
	acked  int64
	err    error
}

// join adds r to partition p's next batch and returns its answer.
func (b *batches) join(ctx context.Context, p int, r Reservation) (batchAnswer, error) {
	j := &joined{ctx: ctx, r: r, done: make(chan batchAnswer, 1)}
	b.mu.Lock()
	if b.parts == nil {
		b.parts = map[int]*partBatch{}
	}
	pb := b.parts[p]
	if pb == nil {
		pb = &partBatch{}
		b.parts[p] = pb
	}
	pb.queue = append(pb.queue, j)
	start := !pb.out
	if start {
		pb.out = true
	}
	b.mu.Unlock()
	if start {
		b.send(p, pb)
	}
	select {
	case a := <-j.done:
		return a, a.err
	case <-ctx.Done():
		// Its batch may be out, and may yet take the units: only a repeat with the same Idempotency-Key can
		// tell, as for an answer lost on the wire.
		return batchAnswer{}, fmt.Errorf("redis.reserve: %w: %w", model.ErrOutcomeUnknown, ctx.Err())
	}
}

// send takes what waits in pb, runs it as one batch and answers each reservation; if more arrived meanwhile,
// a goroutine sends them next, so that no caller's answer waits for batches after its own.
func (b *batches) send(p int, pb *partBatch) {
	b.mu.Lock()
	n := min(len(pb.queue), maxBatch)
	// The script takes one backlog bound per call. A shop gives every reservation the same, so this split
	// never happens in it; a caller that mixes bounds still gets each reservation checked against its own.
	for i := 1; i < n; i++ {
		if pb.queue[i].r.MaxBacklog != pb.queue[0].r.MaxBacklog {
			n = i
			break
		}
	}
	batch := pb.queue[:n:n]
	pb.queue = pb.queue[n:]
	b.mu.Unlock()

	live := batch[:0:0]
	for _, j := range batch {
		if err := j.ctx.Err(); err != nil {
			// Never sent: nothing was taken, and the caller has stopped waiting.
			j.done <- batchAnswer{err: fmt.Errorf("redis.reserve: %w: %w", model.ErrUnavailable, err)}
			continue
		}
		live = append(live, j)
	}
	if len(live) > 0 {
		ctx, cancel := batchContext(live)
		rs := make([]Reservation, len(live))
		for i, j := range live {
			rs[i] = j.r
		}
		answers, stream, at, acked, err := b.g.reserveBatch(ctx, p, rs)
		cancel()
		for i, j := range live {
			a := batchAnswer{stream: stream, at: at, acked: acked, err: err}
			if err == nil {
				a.ans = answers[i]
			}
			j.done <- a
		}
	}

	b.mu.Lock()
	more := len(pb.queue) > 0
	if !more {
		pb.out = false
	}
	b.mu.Unlock()
	if more {
		go b.send(p, pb)
	}
}

// batchContext bounds a batch by the latest deadline of its reservations, so that none is cut short by
// another's; without a deadline on one of them it has none. A caller whose own deadline passes first stops
// waiting (join) while the batch goes on.
func batchContext(js []*joined) (context.Context, context.CancelFunc) {
	var latest time.Time
	for _, j := range js {
		d, ok := j.ctx.Deadline()
		if !ok {
			return context.WithCancel(context.Background())
		}
		if d.After(latest) {
			latest = d
		}
	}
	return context.WithDeadline(context.Background(), latest)
}
