package redis

import (
	"context"
	"errors"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/scripts/lua"
)

// StreamGroup is the consumer group of the writers on every partition stream.
const StreamGroup = "writers"

// Entry is one order of a partition stream, as a writer reads it. A stream entry holds the orders of one
// reserve.lua batch, one record per line, so several Entries can share an ID: they are acknowledged together,
// once every one of them is in Postgres or in the dead letters.
type Entry struct {
	ID     string      // the stream entry id
	Record string      // the order record as the stream holds it ("" when the entry has none)
	Order  model.Order // read from Record, with its stream position; the zero Order when Err is set
	Err    error       // the record cannot be read: it is poison, and only the dead letters can take it
}

// entries reads the orders of each stream message.
func entries(p int, msgs []goredis.XMessage) []Entry {
	out := make([]Entry, 0, len(msgs))
	for _, m := range msgs {
		body, _ := m.Values["o"].(string)
		for rec := range strings.SplitSeq(body, "\n") {
			e := Entry{ID: m.ID, Record: rec}
			if e.Order, e.Err = ParseRecord(rec); e.Err == nil {
				e.Order.StreamPartition, e.Order.StreamID = p, m.ID
			}
			out = append(out, e)
		}
	}
	return out
}

// Streams is the writers' side of the partition order streams: the consumer group, reads, claims,
// acknowledgements and dead letters. Each method is one round trip; the two that change several keys do it in
// one MULTI/EXEC.
type Streams struct {
	rdb  goredis.UniversalClient
	keys Keys
	ack  *goredis.Script
	dead *goredis.Script
}

// NewStreams returns the order streams of the key layout over rdb.
func NewStreams(rdb goredis.UniversalClient, keys Keys) *Streams {
	return &Streams{rdb: rdb, keys: keys, ack: goredis.NewScript(lua.Ack), dead: goredis.NewScript(lua.DeadLetter)}
}

// Partitions is the number of partition streams.
func (s *Streams) Partitions() int { return s.keys.Partitions }

// EnsureGroup makes partition p's stream and the writers' group on it exist; a group that exists is left as
// it is.
func (s *Streams) EnsureGroup(ctx context.Context, p int) error {
	return ensureGroup(ctx, s.rdb, s.keys.Stream(p), "redis.ensure_group")
}

func ensureGroup(ctx context.Context, rdb goredis.UniversalClient, stream, op string) error {
	err := rdb.XGroupCreateMkStream(ctx, stream, StreamGroup, "0").Err()
	if err == nil {
		return nil
	}
	if err = wrap(op, err); errors.Is(err, ErrGroupExists) {
		return nil
	}
	return err
}

// ReadOwn reads, oldest first, up to count entries that were delivered to consumer and that it has not
// acknowledged: what it read before a restart, or an entry Postgres refused. It does not wait. ErrNoGroup
// means the group is gone (Redis lost its data).
func (s *Streams) ReadOwn(ctx context.Context, p int, consumer string, count int) ([]Entry, error) {
	return s.read(ctx, "redis.read_own", p, consumer, "0", -1, count)
}

// ReadNew delivers to consumer up to count entries that no consumer of the group has had yet, waiting up to
// block for the first one (block < 0: not at all). No entry in time is no entries and no error. ErrNoGroup
// means the group is gone (Redis lost its data).
func (s *Streams) ReadNew(ctx context.Context, p int, consumer string, block time.Duration, count int) ([]Entry, error) {
	return s.read(ctx, "redis.read_new", p, consumer, ">", block, count)
}

func (s *Streams) read(ctx context.Context, op string, p int, consumer, start string, block time.Duration, count int) ([]Entry, error) {
	res, err := s.rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: StreamGroup, Consumer: consumer,
		Streams: []string{s.keys.Stream(p), start}, Count: int64(count), Block: block}).Result()
	if errors.Is(err, goredis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, wrap(op, err)
	}
	if len(res) == 0 {
		return nil, nil
	}
	return entries(p, res[0].Messages), nil
}

// Claim gives consumer up to count entries that were delivered to a consumer of the group and left
// unacknowledged for at least minIdle (that consumer died). The scan of the pending entries goes on from
// `from` ("" starts it); next is where the following call goes on, "" once the scan went round.
func (s *Streams) Claim(ctx context.Context, p int, consumer string, minIdle time.Duration, from string, count int) (claimed []Entry, next string, err error) {
	if from == "" {
		from = "0-0"
	}
	msgs, next, err := s.rdb.XAutoClaim(ctx, &goredis.XAutoClaimArgs{Stream: s.keys.Stream(p), Group: StreamGroup,
		Consumer: consumer, MinIdle: minIdle, Start: from, Count: int64(count)}).Result()
	if err != nil {
		return nil, "", wrap("redis.claim", err)
	}
	if next == "0-0" {
		next = ""
	}
	return entries(p, msgs), next, nil
}

// AckAndDrop acknowledges the stream entries of done, whose orders are all in Postgres (or in the dead
// letters) now, drops their pending records and trims the stream (which holds only what Postgres may not have
// yet) of every entry no consumer still holds, in one script (ack.lua): a few commands per batch, not one per
// order. The caller passes every order of each entry it acknowledges.
func (s *Streams) AckAndDrop(ctx context.Context, p int, done []Entry) error {
	if len(done) == 0 {
		return nil
	}
	args := make([]any, 2, 2+2*len(done))
	args[0] = StreamGroup
	last := ""
	for _, e := range done {
		if e.ID != last { // an entry's orders come together
			args = append(args, e.ID)
			last = e.ID
		}
	}
	args[1] = len(args) - 2
	for _, e := range done {
		if e.Err == nil {
			args = append(args, e.Order.ID.String())
		}
	}
	if err := s.ack.Run(ctx, s.rdb, []string{s.keys.Stream(p), s.keys.Pending(p)}, args...).Err(); err != nil {
		return wrap("redis.ack_and_drop", err)
	}
	return nil
}

// DeadLetter copies an order Postgres can never take to the partition's dead-letter stream, with the cause,
// and drops its pending record, in one script (deadletter.lua); its stream entry is acknowledged with its
// siblings (AckAndDrop). An order dead-lettered before (by a writer that died before the acknowledgement and
// read the entry again) is not copied twice. reconcile reports every dead letter and
// can requeue it (RequeueDeadLetters). added is false for an order dead-lettered before.
func (s *Streams) DeadLetter(ctx context.Context, p int, e Entry, cause error) (added bool, err error) {
	id := ""
	if e.Err == nil {
		id = e.Order.ID.String()
	}
	n, err := s.dead.Run(ctx, s.rdb, []string{s.keys.DeadLetters(p), s.keys.Pending(p)}, e.ID, e.Record, cause.Error(), id).Int()
	if err != nil {
		return false, wrap("redis.dead_letter", err)
	}
	return n == 1, nil
}

// Backlog is the number of partition p's confirmed orders that are not in Postgres yet.
func (s *Streams) Backlog(ctx context.Context, p int) (int64, error) {
	n, err := s.rdb.HLen(ctx, s.keys.Pending(p)).Result()
	if err != nil {
		return 0, wrap("redis.backlog", err)
	}
	return n, nil
}

// EnsureStream makes partition p's stream and consumer group exist, with a last id of at least minLastID. A
// Redis that lost its data would otherwise restart its stream ids below orders Postgres already has, and
// reconcile would take those orders for ones reserved after its snapshot.
func (g *Gate) EnsureStream(ctx context.Context, p int, minLastID string) error {
	stream := g.keys.Stream(p)
	if err := ensureGroup(ctx, g.rdb, stream, "redis.ensure_stream"); err != nil {
		return err
	}
	if minLastID == "" {
		return nil
	}
	// XSETID refuses an id below the stream's last one, which is then already high enough.
	if err := g.rdb.Do(ctx, "XSETID", stream, minLastID).Err(); err != nil {
		if err = wrap("redis.ensure_stream", err); !errors.Is(err, ErrIDTooSmall) {
			return err
		}
	}
	return nil
}

// RequeueDeadLetters puts partition p's readable dead letters whose order Postgres does not have back on the
// stream (and in pending), for the writer to try again; it returns how many. inPostgres tells which orders
// Postgres has already (their dead letters are just dropped).
func (g *Gate) RequeueDeadLetters(ctx context.Context, p int, inPostgres func([]model.Order) (map[string]bool, error)) (int, error) {
	dead, err := g.rdb.XRange(ctx, g.keys.DeadLetters(p), "-", "+").Result()
	if err != nil {
		return 0, wrap("redis.requeue", err)
	}
	var orders []model.Order
	ids := map[string]string{} // order id -> dead-letter entry id
	for _, e := range dead {
		rec, _ := e.Values["o"].(string)
		o, err := ParseRecord(rec)
		if err != nil {
			continue // unreadable: left for a person
		}
		orders = append(orders, o)
		ids[o.ID.String()] = e.ID
	}
	if len(orders) == 0 {
		return 0, nil
	}
	have, err := inPostgres(orders)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, o := range orders {
		id := o.ID.String()
		_, err := g.rdb.TxPipelined(ctx, func(pipe goredis.Pipeliner) error {
			if !have[id] {
				pipe.XAdd(ctx, &goredis.XAddArgs{Stream: g.keys.Stream(p), Values: map[string]any{"o": Record(o)}})
				pipe.HSet(ctx, g.keys.Pending(p), id, Record(o))
			}
			pipe.XDel(ctx, g.keys.DeadLetters(p), ids[id])
			return nil
		})
		if err != nil {
			return n, wrap("redis.requeue", err)
		}
		if !have[id] {
			n++
		}
	}
	return n, nil
}
