package redis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/learecordshop/recordshop/biz/model"
)

// ReserveCode is what reserve.lua answered.
type ReserveCode int

// The codes of reserve.lua (see its header).
const (
	Reserved ReserveCode = iota + 1
	Replayed
	SoldOut
	OverLimit
	NotStarted
	Inactive
	NoDisc
	KeyReused
	Backlog
	NeedUnits // the disc's buyers are not all in Redis: read this customer's units from Postgres, call again
)

// Reservation is a reservation request.
type Reservation struct {
	Order       model.Order // ID, CustomerID, DiscID, Quantity, ReservedAt, IdempotencyKey
	Fingerprint string      // "" when there is no Idempotency-Key
	IdemTTL     time.Duration
	MaxBacklog  int // per partition; 0 = unbounded
	// Units is the customer's units of the disc in Postgres at stock version UnitsVersion, read after a
	// NeedUnits answer; nil before.
	Units *model.BuyerUnits
}

// ReserveResult is the script's answer: the order on Reserved and Replayed, a number for the refusals.
type ReserveResult struct {
	Code     ReserveCode
	Order    model.Order
	StreamID string
	Value    int64 // units left, units the customer may still buy, sale start ms, backlog, or stock version
}

// Reserve runs reserve.lua for one reservation. Reservations of one partition that arrive while an earlier
// batch of that partition is on its way to Redis wait for it and then go together, in one script call (see
// batch.go): under load the script's fixed cost and the round trip are shared, and alone a reservation goes at
// once. It is one round trip (EVALSHA, or EVAL after a restart or a promotion emptied the script cache), with
// WAIT in the same round trip when the gate has a replication wait.
func (g *Gate) Reserve(ctx context.Context, r Reservation) (ReserveResult, error) {
	a, err := g.batches.join(ctx, g.keys.Partition(r.Order.DiscID), r)
	if err != nil {
		return ReserveResult{}, err
	}
	res, err := readReserve(r, a)
	if err != nil {
		return ReserveResult{}, err
	}
	if res.Code == Reserved || res.Code == Replayed {
		// The units are taken on the primary; until a replica has them a failover could forget the order.
		// The buyer's repeat with the same Idempotency-Key replays it and waits again.
		if err := g.replicated("redis.reserve", a.acked); err != nil {
			return ReserveResult{}, fmt.Errorf("%w: %w", model.ErrOutcomeUnknown, err)
		}
	}
	return res, nil
}

// batchKeep is how long Redis keeps a batch's answers: long enough to outlast go-redis' resends of the
// command whose answer was lost, short enough to cost little memory at launch rates.
const batchKeep = time.Minute

// answer is reserve.lua's answer to one reservation of a batch: its code and value, both decimal but for a
// replay's record.
type answer struct{ code, value string }

// reserveBatch runs reserve.lua once for rs, all of partition p and of one MaxBacklog, and returns each one's
// answer, the stream entry of the orders it confirmed ("" when none), the batch's reservation time (the latest
// ReservedAt of rs, to the millisecond: every order it confirms was reserved then) and how many replicas
// acknowledged the batch (-1 without the replication wait).
//
// The arguments say once what the batch's orders share (the time, each disc's keys and id), so that an order is
// five arguments; the idempotency key and the units read from Postgres, which few orders carry, go in an option
// group the order points to (see reserve.lua's header).
func (g *Gate) reserveBatch(ctx context.Context, p int, rs []Reservation) (answers []answer, stream string, at time.Time, acked int64, err error) {
	batchKey := g.keys.Batch(p, uuid.NewString())
	for _, r := range rs {
		if r.MaxBacklog != rs[0].MaxBacklog {
			return nil, "", at, 0, fmt.Errorf("redis.reserve: one batch with backlog bounds %d and %d", rs[0].MaxBacklog, r.MaxBacklog)
		}
		if r.Order.ReservedAt.After(at) {
			at = r.Order.ReservedAt
		}
	}
	at = time.UnixMilli(at.UnixMilli()).UTC()
	discs := make([]int64, 0, 1) // the batch's discs in the order first seen; a launch's batch has one
	number := func(disc int64) int {
		for i, d := range discs {
			if d == disc {
				return i + 1
			}
		}
		discs = append(discs, disc)
		return len(discs)
	}
	for _, r := range rs {
		number(r.Order.DiscID)
	}

	keys := make([]string, 4, 4+2*len(discs))
	keys[0], keys[1], keys[2], keys[3] = g.keys.Inactive(p), g.keys.Stream(p), g.keys.Pending(p), batchKey
	touch := "0" // with the replication wait, a replay writes, so that its WAIT covers the first answer's write
	if g.repl.Replicas > 0 {
		touch = "1"
	}
	args := make([]any, 6, 6+len(discs)+5*len(rs))
	args[0], args[1], args[2], args[3], args[4], args[5] = len(rs), rs[0].MaxBacklog, touch, int64(batchKeep.Seconds()), at.UnixMilli(), len(discs)
	for _, d := range discs {
		keys = append(keys, g.keys.Disc(d), g.keys.Bought(d))
		args = append(args, d)
	}
	var groups []any
	for _, r := range rs {
		o := r.Order
		group := ""
		if r.Fingerprint != "" || r.Units != nil {
			idem, units, unitsVersion := "0", "", ""
			var fingerprint, ttl any = "", ""
			if r.Fingerprint != "" {
				keys = append(keys, g.keys.Idempotency(o.DiscID, o.CustomerID, o.IdempotencyKey))
				// SET ... EX needs whole seconds >= 1, and the script must not fail after it took the units.
				idem, fingerprint, ttl = strconv.Itoa(len(keys)), r.Fingerprint, max(int64(math.Ceil(r.IdemTTL.Seconds())), 1)
			}
			if r.Units != nil {
				units, unitsVersion = strconv.FormatInt(r.Units.Units, 10), strconv.FormatInt(r.Units.Version, 10)
			}
			groups = append(groups, idem, fingerprint, ttl, o.IdempotencyKey, units, unitsVersion)
			group = strconv.Itoa(len(groups) / 6)
		}
		args = append(args, o.ID.String(), o.CustomerID, o.Quantity, number(o.DiscID), group)
	}
	args = append(args, groups...)

	ans, acked, err := g.evalWrite(ctx, g.reserve, keys, args...)
	if err != nil && !replied(err) {
		// No answer (the caller's deadline passed, the connection was cut): the script may have run, or may
		// still run from a socket buffer once a stalled Redis resumes. Only a retry with the same
		// Idempotency-Key can learn which, and it replays rather than sells twice.
		return nil, "", at, 0, fmt.Errorf("redis.reserve: %w: %w", model.ErrOutcomeUnknown, err)
	}
	if err != nil {
		return nil, "", at, 0, wrap("redis.reserve", err)
	}
	all, ok := ans.(string)
	if !ok {
		return nil, "", at, 0, fmt.Errorf("redis.reserve: want a string, got %T: %w", ans, ErrBadReply)
	}
	lines := strings.Split(all, "\n")
	if len(lines) != 2*len(rs)+1 {
		return nil, "", at, 0, fmt.Errorf("redis.reserve: %d lines for %d reservations: %w", len(lines), len(rs), ErrBadReply)
	}
	answers = make([]answer, len(rs))
	for i := range answers {
		answers[i] = answer{code: lines[2*i], value: lines[2*i+1]}
	}
	return answers, lines[2*len(rs)], at, acked, nil
}

// Answered returns the answer Redis keeps for a request with an Idempotency-Key (r.Fingerprint set), as
// reserve.lua's first step reads it: Replayed with the order, KeyReused when the key answered another request,
// ok false when the key was not used (or r has none). One GET; nothing is written.
func (g *Gate) Answered(ctx context.Context, r Reservation) (ReserveResult, bool, error) {
	o := r.Order
	if r.Fingerprint == "" {
		return ReserveResult{}, false, nil
	}
	prev, err := g.rdb.Get(ctx, g.keys.Idempotency(o.DiscID, o.CustomerID, o.IdempotencyKey)).Result()
	if errors.Is(err, goredis.Nil) {
		return ReserveResult{}, false, nil
	}
	if err != nil {
		return ReserveResult{}, false, wrap("redis.answered", err)
	}
	fingerprint, rec, _ := strings.Cut(prev, "|")
	if fingerprint != r.Fingerprint {
		return ReserveResult{Code: KeyReused}, true, nil
	}
	order, err := ParseRecord(rec)
	if err != nil {
		return ReserveResult{}, false, fmt.Errorf("redis.answered: %w", err)
	}
	return ReserveResult{Code: Replayed, Order: order}, true, nil
}

// readReserve reads r's part a of its batch's answer.
func readReserve(r Reservation, a batchAnswer) (ReserveResult, error) {
	code, err := strconv.Atoi(a.ans.code)
	if err != nil {
		return ReserveResult{}, fmt.Errorf("redis.reserve: code %q: %w", a.ans.code, ErrBadReply)
	}
	res := ReserveResult{Code: ReserveCode(code)}
	switch res.Code {
	case Reserved:
		price, err := strconv.ParseInt(a.ans.value, 10, 64)
		if err != nil {
			return ReserveResult{}, fmt.Errorf("redis.reserve: price %q: %w", a.ans.value, ErrBadReply)
		}
		if a.stream == "" {
			return ReserveResult{}, fmt.Errorf("redis.reserve: an order confirmed without a stream entry: %w", ErrBadReply)
		}
		o := r.Order
		o.ReservedAt = a.at
		res.Order, res.StreamID = Confirmed(o, price), a.stream
	case Replayed:
		if res.Order, err = ParseRecord(a.ans.value); err != nil {
			return ReserveResult{}, fmt.Errorf("redis.reserve: %w: %w", ErrBadReply, err)
		}
	case SoldOut, OverLimit, NotStarted, Backlog, NeedUnits:
		if res.Value, err = strconv.ParseInt(a.ans.value, 10, 64); err != nil {
			return ReserveResult{}, fmt.Errorf("redis.reserve: code %d, value %q: %w", code, a.ans.value, ErrBadReply)
		}
	case Inactive, NoDisc, KeyReused:
	default:
		return ReserveResult{}, fmt.Errorf("redis.reserve: code %d: %w", code, ErrBadReply)
	}
	return res, nil
}

// Confirmed is order o as reserve.lua recorded it at unit price price: what ParseRecord reads back from its
// record (the reservation time to the millisecond), built without the string.
func Confirmed(o model.Order, price int64) model.Order {
	return model.Order{ID: o.ID, CustomerID: o.CustomerID, DiscID: o.DiscID, Quantity: o.Quantity, UnitPriceCents: price,
		TotalCents: price * int64(o.Quantity), ReservedAt: time.UnixMilli(o.ReservedAt.UnixMilli()).UTC(),
		IdempotencyKey: o.IdempotencyKey, Status: model.StatusConfirmed}
}

// Record is the compact form an order takes in Redis (stream entry, pending record, idempotency answer):
// "id|customer|disc|quantity|unit price cents|reserved unix ms|idempotency key". reserve.lua builds the same
// string from its arguments; the two must change together.
func Record(o model.Order) string {
	return strings.Join([]string{o.ID.String(), strconv.FormatInt(o.CustomerID, 10), strconv.FormatInt(o.DiscID, 10),
		strconv.Itoa(o.Quantity), strconv.FormatInt(o.UnitPriceCents, 10), strconv.FormatInt(o.ReservedAt.UnixMilli(), 10),
		o.IdempotencyKey}, "|")
}

// ParseRecord reads an order from its Redis record; the order is confirmed and not yet persisted.
func ParseRecord(s string) (model.Order, error) {
	parts := strings.SplitN(s, "|", 7)
	if len(parts) != 7 {
		return model.Order{}, fmt.Errorf("order record %q: want 7 fields, got %d", s, len(parts))
	}
	var o model.Order
	var err error
	nums := make([]int64, 5)
	for i := range nums {
		if nums[i], err = strconv.ParseInt(parts[i+1], 10, 64); err != nil {
			return model.Order{}, fmt.Errorf("order record %q: field %d: %w", s, i+2, err)
		}
	}
	if o.ID, err = uuid.Parse(parts[0]); err != nil {
		return model.Order{}, fmt.Errorf("order record %q: id: %w", s, err)
	}
	o.CustomerID, o.DiscID, o.Quantity, o.UnitPriceCents = nums[0], nums[1], int(nums[2]), nums[3]
	if o.CustomerID <= 0 || o.DiscID <= 0 || o.Quantity <= 0 || o.UnitPriceCents < 0 {
		return model.Order{}, fmt.Errorf("order record %q: ids, quantity and price must be positive", s)
	}
	o.ReservedAt = time.UnixMilli(nums[4]).UTC()
	o.IdempotencyKey = parts[6]
	o.Status = model.StatusConfirmed
	o.TotalCents = o.UnitPriceCents * int64(o.Quantity)
	return o, nil
}
