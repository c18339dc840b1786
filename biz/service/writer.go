package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/learecordshop/recordshop/biz/model"
	rsredis "github.com/learecordshop/recordshop/dal/redis"
)

// BatchStore is what the writer needs from the Postgres orders repository.
type BatchStore interface {
	InsertBatch(ctx context.Context, orders []model.Order) (int, error)
}

// WriterConfig tunes the writer.
type WriterConfig struct {
	Consumer  string        // this writer's name in the consumer group; unique per process
	BatchSize int           // most entries per Postgres transaction
	BatchWait time.Duration // longest wait for a batch to fill
}

// Writer moves confirmed orders from the Redis partition streams to Postgres in batches. Each batch is one
// transaction that inserts only orders not there yet and takes only their units from the discs; the entries
// are acknowledged and their pending records dropped after it commits. A crash anywhere in between makes the
// entries come again, and the second time they change nothing: the effect is exactly once.
type Writer struct {
	gate  *rsredis.Gate
	store BatchStore
	cfg   WriterConfig
	log   *zap.Logger
}

// NewWriter returns a writer.
func NewWriter(gate *rsredis.Gate, store BatchStore, cfg WriterConfig, log *zap.Logger) *Writer {
	return &Writer{gate: gate, store: store, cfg: cfg, log: log}
}

// Run drains every partition until ctx ends; a batch already read is still written (bounded by a deadline).
func (w *Writer) Run(ctx context.Context) error {
	keys := w.gate.Keys()
	var wg sync.WaitGroup
	errs := make(chan error, keys.Partitions)
	for p := 0; p < keys.Partitions; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.partition(ctx, p); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	return errors.Join(drain(errs)...)
}

func drain(errs <-chan error) []error {
	var out []error
	for err := range errs {
		out = append(out, err)
	}
	return out
}

func (w *Writer) partition(ctx context.Context, p int) error {
	rdb, keys := w.gate.Client(), w.gate.Keys()
	stream := keys.Stream(p)
	if err := rdb.XGroupCreateMkStream(ctx, stream, rsredis.StreamGroup, "0").Err(); err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("writer: create group on %s: %w", stream, err)
	}
	// First what this consumer read and did not acknowledge before a restart, then new entries.
	start := "0"
	backoff := newBackoff()
	for ctx.Err() == nil {
		res, err := rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: rsredis.StreamGroup, Consumer: w.cfg.Consumer,
			Streams: []string{stream, start}, Count: int64(w.cfg.BatchSize), Block: w.cfg.BatchWait}).Result()
		if errors.Is(err, goredis.Nil) {
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				backoff.wait(ctx, w.log, "writer cannot read its stream", err)
			}
			continue
		}
		entries := res[0].Messages
		if start == "0" && len(entries) == 0 {
			start = ">"
			continue
		}
		if err := w.flush(ctx, p, entries); err != nil {
			backoff.wait(ctx, w.log, "writer cannot flush to postgres", err)
			continue
		}
		backoff.reset(w.log)
	}
	return nil
}

// flush writes one batch and then acknowledges it. The write gets its own deadline rather than ctx, so a
// shutdown still lands what was read.
func (w *Writer) flush(ctx context.Context, p int, entries []goredis.XMessage) error {
	keys := w.gate.Keys()
	orders := make([]model.Order, 0, len(entries))
	ids := make([]string, 0, len(entries))
	orderIDs := make([]string, 0, len(entries))
	for _, e := range entries {
		rec, _ := e.Values["o"].(string)
		o, err := model.ParseRecord(rec)
		if err != nil {
			w.log.Error("unreadable order entry moved to dead letters", zap.String("stream", keys.Stream(p)), zap.String("entry", e.ID), zap.Error(err))
			if err := w.deadLetter(ctx, p, e); err != nil {
				return err
			}
			continue
		}
		o.StreamPartition, o.StreamID = p, e.ID
		orders = append(orders, o)
		ids = append(ids, e.ID)
		orderIDs = append(orderIDs, o.ID.String())
	}
	if len(orders) == 0 {
		return nil
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := w.store.InsertBatch(wctx, orders); err != nil {
		return err
	}
	rdb := w.gate.Client()
	_, err := rdb.TxPipelined(wctx, func(pipe goredis.Pipeliner) error {
		pipe.XAck(wctx, keys.Stream(p), rsredis.StreamGroup, ids...)
		pipe.HDel(wctx, keys.Pending(p), orderIDs...)
		return nil
	})
	return err
}

func (w *Writer) deadLetter(ctx context.Context, p int, e goredis.XMessage) error {
	keys, rdb := w.gate.Keys(), w.gate.Client()
	_, err := rdb.TxPipelined(ctx, func(pipe goredis.Pipeliner) error {
		pipe.XAdd(ctx, &goredis.XAddArgs{Stream: keys.DeadLetters(p), Values: map[string]any{"entry": e.ID, "o": fmt.Sprint(e.Values["o"])}})
		pipe.XAck(ctx, keys.Stream(p), rsredis.StreamGroup, e.ID)
		return nil
	})
	return err
}

// backoff waits longer after each failure (up to 5 s) and logs once per outage, not once per attempt.
type backoff struct {
	delay   time.Duration
	failing bool
}

func newBackoff() *backoff { return &backoff{delay: 50 * time.Millisecond} }

func (b *backoff) wait(ctx context.Context, log *zap.Logger, msg string, err error) {
	if !b.failing {
		b.failing = true
		log.Error(msg+"; retrying with backoff", zap.Error(err))
	}
	select {
	case <-ctx.Done():
	case <-time.After(b.delay):
	}
	b.delay = min(b.delay*2, 5*time.Second)
}

func (b *backoff) reset(log *zap.Logger) {
	if b.failing {
		log.Info("writer recovered")
	}
	b.failing, b.delay = false, 50*time.Millisecond
}
