package redis_test

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/learecordshop/recordshop/biz/model"
	rsredis "github.com/learecordshop/recordshop/dal/redis"
	"github.com/learecordshop/recordshop/dal/testenv"
	"github.com/learecordshop/recordshop/scripts/lua"
)

// The tables run with P = 4: disc 7 and disc 3 share partition 3, disc 8 lives in partition 0.
const (
	partitions = 4
	discID     = int64(7)
	neighbour  = int64(3) // same partition as discID
	elsewhere  = int64(8) // another partition
	buyer      = int64(42)
	other      = int64(43)
	priceCents = int64(2599)
	idemTTL    = 24 * time.Hour
)

// now is the clock of every reservation: a fixed instant in whole milliseconds, the precision of the record.
var now = time.UnixMilli(1_767_225_600_123).UTC()

// backend is a server the script tables run on.
type backend struct {
	name string
	open func(t *testing.T) (*goredis.Client, string) // a client and a key namespace of the test's own
}

// backends: miniredis (gopher-lua) and the real Redis, whose Lua is the one production runs. A script that only
// works on one of them fails here.
var backends = []backend{
	{"miniredis", func(t *testing.T) (*goredis.Client, string) {
		mr := miniredis.RunT(t)
		rdb := goredis.NewClient(&goredis.Options{Addr: mr.Addr()})
		t.Cleanup(func() { _ = rdb.Close() })
		return rdb, "t:"
	}},
	{"redis", func(t *testing.T) (*goredis.Client, string) { return testenv.Redis(t) }},
}

// realRedis is the real-Redis backend, for the tests that need true concurrency or the script cache.
func realRedis(t *testing.T) fixture { return newFixture(t, backends[1]) }

type fixture struct {
	t   *testing.T
	rdb *goredis.Client
	ns  string
	k   rsredis.Keys
	g   *rsredis.Gate
}

func newFixture(t *testing.T, b backend) fixture {
	t.Helper()
	rdb, ns := b.open(t)
	k := rsredis.Keys{Namespace: ns, Partitions: partitions}
	return fixture{t: t, rdb: rdb, ns: ns, k: k, g: rsredis.NewGate(rdb, k)}
}

// liveDisc is a disc on sale since an hour before now, at version 5, without a per-customer limit.
func liveDisc(id, avail int64, opts ...func(*rsredis.DiscState)) *rsredis.DiscState {
	s := &rsredis.DiscState{ID: id, Version: 5, Avail: avail, PriceCents: priceCents, StartsAt: now.Add(-time.Hour),
		Active: true}
	for _, o := range opts {
		o(s)
	}
	return s
}

func limit(n int) func(*rsredis.DiscState) {
	return func(s *rsredis.DiscState) { s.Limit = n }
}

func startsAt(t time.Time) func(*rsredis.DiscState) {
	return func(s *rsredis.DiscState) { s.StartsAt = t }
}

func archived(s *rsredis.DiscState) { s.Active = false }

// request is a reservation of qty units with a new order id; key "" means no Idempotency-Key (no fingerprint).
func request(customer, disc int64, qty int, key string) rsredis.Reservation {
	r := rsredis.Reservation{IdemTTL: idemTTL, Order: model.Order{ID: uuid.Must(uuid.NewV7()), CustomerID: customer,
		DiscID: disc, Quantity: qty, ReservedAt: now, IdempotencyKey: key}}
	if key != "" {
		r.Fingerprint = model.OrderCreate{CustomerID: customer, DiscID: disc, Quantity: qty}.Fingerprint()
	}
	return r
}

func bounded(r rsredis.Reservation, maxBacklog int) rsredis.Reservation {
	r.MaxBacklog = maxBacklog
	return r
}

func (f fixture) load(s rsredis.DiscState, bought map[int64]int64) {
	f.t.Helper()
	if ok, err := f.g.Load(f.t.Context(), s, bought); err != nil || !ok {
		f.t.Fatalf("load disc %d: loaded %v, err %v", s.ID, ok, err)
	}
}

func (f fixture) mustReserve(r rsredis.Reservation) model.Order {
	f.t.Helper()
	res, err := f.g.Reserve(f.t.Context(), r)
	if err != nil || res.Code != rsredis.Reserved {
		f.t.Fatalf("setup reserve: code %d, err %v", res.Code, err)
	}
	return res.Order
}

func (f fixture) setInactive(customer int64, inactive bool) {
	f.t.Helper()
	if err := f.g.SetInactive(f.t.Context(), customer, inactive); err != nil {
		f.t.Fatal(err)
	}
}

func (f fixture) mustApply(c rsredis.Change) {
	f.t.Helper()
	if code, v, err := f.g.Apply(f.t.Context(), c); err != nil || code != rsredis.Applied {
		f.t.Fatalf("setup apply: code %d (%d), err %v", code, v, err)
	}
}

// dump is everything under the fixture's namespace: hashes and strings as they are, sets sorted, streams as
// their entries. Comparing two dumps is how the tests prove what a script changed, and that a refusal changed
// nothing at all.
func (f fixture) dump() map[string]any {
	f.t.Helper()
	ctx := f.t.Context()
	out := map[string]any{}
	iter := f.rdb.Scan(ctx, 0, f.ns+"*", 1000).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		typ, err := f.rdb.Type(ctx, key).Result()
		if err != nil {
			f.t.Fatal(err)
		}
		var v any
		switch typ {
		case "hash":
			v, err = f.rdb.HGetAll(ctx, key).Result()
		case "string":
			v, err = f.rdb.Get(ctx, key).Result()
		case "set":
			var m []string
			m, err = f.rdb.SMembers(ctx, key).Result()
			slices.Sort(m)
			v = m
		case "stream":
			v, err = f.rdb.XRange(ctx, key, "-", "+").Result()
		default:
			f.t.Fatalf("key %s has unexpected type %s", key, typ)
		}
		if err != nil {
			f.t.Fatal(err)
		}
		out[key] = v
	}
	if err := iter.Err(); err != nil {
		f.t.Fatal(err)
	}
	return out
}

// afterReserve is state with the effects of one reservation added, as reserve.lua's header specifies them:
// avail down by the quantity, the customer's units up by it, one stream entry and one pending record with the
// order record, and the idempotency answer when there is a fingerprint.
func (f fixture) afterReserve(state map[string]any, r rsredis.Reservation, record, streamID string) map[string]any {
	f.t.Helper()
	o := r.Order
	p := f.k.Partition(o.DiscID)
	want := maps.Clone(state)

	disc := maps.Clone(want[f.k.Disc(o.DiscID)].(map[string]string))
	avail, err := strconv.ParseInt(disc["avail"], 10, 64)
	if err != nil {
		f.t.Fatalf("disc avail %q: %v", disc["avail"], err)
	}
	disc["avail"] = strconv.FormatInt(avail-int64(o.Quantity), 10)
	want[f.k.Disc(o.DiscID)] = disc

	bought, _ := want[f.k.Bought(o.DiscID)].(map[string]string)
	bought = maps.Clone(bought)
	if bought == nil {
		bought = map[string]string{}
	}
	customer := strconv.FormatInt(o.CustomerID, 10)
	had, _ := strconv.ParseInt(bought[customer], 10, 64)
	bought[customer] = strconv.FormatInt(had+int64(o.Quantity), 10)
	want[f.k.Bought(o.DiscID)] = bought

	stream, _ := want[f.k.Stream(p)].([]goredis.XMessage)
	want[f.k.Stream(p)] = append(slices.Clone(stream), goredis.XMessage{ID: streamID, Values: map[string]any{"o": record}})

	pending, _ := want[f.k.Pending(p)].(map[string]string)
	pending = maps.Clone(pending)
	if pending == nil {
		pending = map[string]string{}
	}
	pending[o.ID.String()] = record
	want[f.k.Pending(p)] = pending

	if r.Fingerprint != "" {
		want[f.k.Idempotency(o.DiscID, o.CustomerID, o.IdempotencyKey)] = r.Fingerprint + "|" + record
	} else {
		// Without a key the order id is the key, briefly, so a resent command replays instead of selling twice.
		want[f.k.Idempotency(o.DiscID, o.CustomerID, "~"+o.ID.String())] = "resend|" + record
	}
	return want
}

type reserveRow struct {
	name   string
	disc   *rsredis.DiscState          // loaded first, with bought; nil = disc discID is not in Redis
	bought map[int64]int64             // units of the disc already bought per customer
	prep   func(f fixture) model.Order // more state; returns the order a replay must answer with
	req    rsredis.Reservation
	want   rsredis.ReserveCode
	value  int64 // units left, units the customer may still buy, sale start ms, or backlog
}

// reserveRows drive reserve.lua through every answer. The checks run in the order of the script: idempotency
// replay, backlog bound, disc exists and is active, sale started, customer active, per-customer limit, stock.
// The "... before ..." rows pin that order: each sets up two refusals and expects the earlier one.
func reserveRows() []reserveRow {
	first := func(f fixture) model.Order { return f.mustReserve(request(buyer, discID, 2, "key-1")) }
	return []reserveRow{
		// Reserved.
		{name: "reserved with an idempotency key", disc: liveDisc(discID, 10),
			req: request(buyer, discID, 3, "key-1"), want: rsredis.Reserved},
		{name: "reserved without an idempotency key", disc: liveDisc(discID, 10),
			req: request(buyer, discID, 1, ""), want: rsredis.Reserved},
		{name: "reserved takes the last units", disc: liveDisc(discID, 3),
			req: request(buyer, discID, 3, ""), want: rsredis.Reserved},
		{name: "reserved at the very start of the sale", disc: liveDisc(discID, 10, startsAt(now)),
			req: request(buyer, discID, 1, ""), want: rsredis.Reserved},
		{name: "reserved up to the limit", disc: liveDisc(discID, 10, limit(4)), bought: map[int64]int64{buyer: 2},
			req: request(buyer, discID, 2, "key-1"), want: rsredis.Reserved},
		{name: "limit counts this customer's units only", disc: liveDisc(discID, 10, limit(2)),
			bought: map[int64]int64{other: 2}, req: request(buyer, discID, 2, ""), want: rsredis.Reserved},
		{name: "reserved again after reactivation", disc: liveDisc(discID, 10),
			prep: func(f fixture) model.Order {
				f.setInactive(buyer, true)
				f.setInactive(buyer, false)
				return model.Order{}
			},
			req: request(buyer, discID, 1, ""), want: rsredis.Reserved},
		{name: "another customer's deactivation does not refuse", disc: liveDisc(discID, 10),
			prep: func(f fixture) model.Order { f.setInactive(other, true); return model.Order{} },
			req:  request(buyer, discID, 1, ""), want: rsredis.Reserved},
		{name: "same key from another customer is another request", disc: liveDisc(discID, 10),
			prep: func(f fixture) model.Order { return f.mustReserve(request(other, discID, 2, "key-1")) },
			req:  request(buyer, discID, 2, "key-1"), want: rsredis.Reserved},
		{name: "reserved below the backlog bound", disc: liveDisc(discID, 10),
			prep: func(f fixture) model.Order {
				f.mustReserve(request(other, discID, 1, ""))
				f.mustReserve(request(other+1, discID, 1, ""))
				return model.Order{}
			},
			req: bounded(request(buyer, discID, 1, ""), 3), want: rsredis.Reserved},
		{name: "backlog of another partition does not count", disc: liveDisc(discID, 10),
			prep: func(f fixture) model.Order {
				f.load(*liveDisc(elsewhere, 10), nil)
				f.mustReserve(request(other, elsewhere, 1, ""))
				f.mustReserve(request(other+1, elsewhere, 1, ""))
				return model.Order{}
			},
			req: bounded(request(buyer, discID, 1, ""), 2), want: rsredis.Reserved},

		// Replayed: the first answer again, whatever happened since, and nothing taken.
		{name: "replayed", disc: liveDisc(discID, 10), prep: first,
			req: request(buyer, discID, 2, "key-1"), want: rsredis.Replayed},
		{name: "replay before sold out", disc: liveDisc(discID, 2), prep: first,
			req: request(buyer, discID, 2, "key-1"), want: rsredis.Replayed},
		{name: "replay before backlog", disc: liveDisc(discID, 10), prep: first,
			req: bounded(request(buyer, discID, 2, "key-1"), 1), want: rsredis.Replayed},
		{name: "replay before over limit", disc: liveDisc(discID, 10, limit(2)), prep: first,
			req: request(buyer, discID, 2, "key-1"), want: rsredis.Replayed},
		{name: "replay before inactive", disc: liveDisc(discID, 10),
			prep: func(f fixture) model.Order { o := first(f); f.setInactive(buyer, true); return o },
			req:  request(buyer, discID, 2, "key-1"), want: rsredis.Replayed},
		{name: "replay before unknown disc", disc: liveDisc(discID, 10),
			prep: func(f fixture) model.Order {
				o := first(f)
				if err := f.g.Forget(f.t.Context(), discID); err != nil {
					f.t.Fatal(err)
				}
				return o
			},
			req: request(buyer, discID, 2, "key-1"), want: rsredis.Replayed},

		// KeyReused: the key's first request had another body.
		{name: "key reused with another quantity", disc: liveDisc(discID, 10), prep: first,
			req: request(buyer, discID, 3, "key-1"), want: rsredis.KeyReused},
		{name: "key reuse before sold out", disc: liveDisc(discID, 2), prep: first,
			req: request(buyer, discID, 1, "key-1"), want: rsredis.KeyReused},
		{name: "key reuse before backlog", disc: liveDisc(discID, 10), prep: first,
			req: bounded(request(buyer, discID, 1, "key-1"), 1), want: rsredis.KeyReused},

		// Backlog: the partition's pending orders reached the bound.
		{name: "backlog at the bound", disc: liveDisc(discID, 10),
			prep: func(f fixture) model.Order {
				f.mustReserve(request(other, discID, 1, ""))
				f.mustReserve(request(other+1, discID, 1, ""))
				return model.Order{}
			},
			req: bounded(request(buyer, discID, 1, "key-1"), 2), want: rsredis.Backlog, value: 2},
		{name: "backlog counts the whole partition", disc: liveDisc(discID, 10),
			prep: func(f fixture) model.Order {
				f.load(*liveDisc(neighbour, 10), nil)
				f.mustReserve(request(other, neighbour, 1, ""))
				f.mustReserve(request(other+1, neighbour, 1, ""))
				return model.Order{}
			},
			req: bounded(request(buyer, discID, 1, ""), 2), want: rsredis.Backlog, value: 2},

		// NoDisc: unknown or archived.
		{name: "unknown disc", req: request(buyer, discID, 1, "key-1"), want: rsredis.NoDisc},
		{name: "unknown disc while another of its partition is live", disc: liveDisc(neighbour, 10),
			req: request(buyer, discID, 1, ""), want: rsredis.NoDisc},
		{name: "archived disc", disc: liveDisc(discID, 10, archived),
			req: request(buyer, discID, 1, "key-1"), want: rsredis.NoDisc},
		{name: "archived before not started", disc: liveDisc(discID, 10, archived, startsAt(now.Add(time.Hour))),
			req: request(buyer, discID, 1, ""), want: rsredis.NoDisc},

		// NotStarted, with the start.
		{name: "not started", disc: liveDisc(discID, 10, startsAt(now.Add(time.Millisecond))),
			req: request(buyer, discID, 1, "key-1"), want: rsredis.NotStarted, value: now.UnixMilli() + 1},
		{name: "not started before inactive", disc: liveDisc(discID, 0, startsAt(now.Add(time.Hour))),
			prep: func(f fixture) model.Order { f.setInactive(buyer, true); return model.Order{} },
			req:  request(buyer, discID, 1, ""), want: rsredis.NotStarted, value: now.Add(time.Hour).UnixMilli()},

		// Inactive.
		{name: "inactive", disc: liveDisc(discID, 10),
			prep: func(f fixture) model.Order { f.setInactive(buyer, true); return model.Order{} },
			req:  request(buyer, discID, 1, "key-1"), want: rsredis.Inactive},
		{name: "inactive before over limit", disc: liveDisc(discID, 10, limit(2)), bought: map[int64]int64{buyer: 2},
			prep: func(f fixture) model.Order { f.setInactive(buyer, true); return model.Order{} },
			req:  request(buyer, discID, 1, ""), want: rsredis.Inactive},
		{name: "inactive before sold out", disc: liveDisc(discID, 0),
			prep: func(f fixture) model.Order { f.setInactive(buyer, true); return model.Order{} },
			req:  request(buyer, discID, 1, ""), want: rsredis.Inactive},

		// OverLimit, with the units the customer may still buy.
		{name: "over limit", disc: liveDisc(discID, 10, limit(4)), bought: map[int64]int64{buyer: 3},
			req: request(buyer, discID, 2, "key-1"), want: rsredis.OverLimit, value: 1},
		{name: "over limit in one order", disc: liveDisc(discID, 10, limit(2)),
			req: request(buyer, discID, 3, ""), want: rsredis.OverLimit, value: 2},
		{name: "over limit after earlier orders", disc: liveDisc(discID, 10, limit(3)),
			prep: func(f fixture) model.Order { return f.mustReserve(request(buyer, discID, 3, "")) },
			req:  request(buyer, discID, 1, ""), want: rsredis.OverLimit, value: 0},
		{name: "over limit before sold out", disc: liveDisc(discID, 0, limit(2)), bought: map[int64]int64{buyer: 2},
			req: request(buyer, discID, 1, ""), want: rsredis.OverLimit, value: 0},

		// SoldOut, with the units left.
		{name: "sold out with units left", disc: liveDisc(discID, 2),
			req: request(buyer, discID, 3, "key-1"), want: rsredis.SoldOut, value: 2},
		{name: "sold out at zero", disc: liveDisc(discID, 0),
			req: request(buyer, discID, 1, ""), want: rsredis.SoldOut, value: 0},
		{name: "sold out after another customer took the rest", disc: liveDisc(discID, 3),
			prep: func(f fixture) model.Order { return f.mustReserve(request(other, discID, 3, "")) },
			req:  request(buyer, discID, 1, ""), want: rsredis.SoldOut, value: 0},
	}
}

func TestReserveScript(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			for _, row := range reserveRows() {
				t.Run(row.name, func(t *testing.T) {
					f := newFixture(t, b)
					if row.disc != nil {
						f.load(*row.disc, row.bought)
					}
					var replay model.Order
					if row.prep != nil {
						replay = row.prep(f)
					}
					before := f.dump()

					res, err := f.g.Reserve(t.Context(), row.req)
					if err != nil {
						t.Fatal(err)
					}
					if res.Code != row.want || res.Value != row.value {
						t.Fatalf("answer %d (value %d), want %d (value %d)", res.Code, res.Value, row.want, row.value)
					}
					after := f.dump()

					switch row.want {
					case rsredis.Reserved:
						o := row.req.Order
						want := model.Order{ID: o.ID, CustomerID: o.CustomerID, DiscID: o.DiscID, Quantity: o.Quantity,
							UnitPriceCents: priceCents, TotalCents: priceCents * int64(o.Quantity),
							Status: model.StatusConfirmed, ReservedAt: now, IdempotencyKey: o.IdempotencyKey}
						if diff := cmp.Diff(want, res.Order); diff != "" {
							t.Errorf("reserved order (-want +got):\n%s", diff)
						}
						if res.StreamID == "" {
							t.Error("no stream id")
						}
						if diff := cmp.Diff(f.afterReserve(before, row.req, want.Record(), res.StreamID), after); diff != "" {
							t.Errorf("store after the reservation (-want +got):\n%s", diff)
						}
						key, wantTTL := f.k.Idempotency(o.DiscID, o.CustomerID, o.IdempotencyKey), idemTTL
						if row.req.Fingerprint == "" {
							key, wantTTL = f.k.Idempotency(o.DiscID, o.CustomerID, "~"+o.ID.String()), time.Minute
						}
						ttl, err := f.rdb.TTL(t.Context(), key).Result()
						if err != nil {
							t.Fatal(err)
						}
						if ttl <= wantTTL-10*time.Second || ttl > wantTTL {
							t.Errorf("idempotency answer expires in %v, want %v", ttl, wantTTL)
						}
					case rsredis.Replayed:
						if diff := cmp.Diff(replay, res.Order); diff != "" {
							t.Errorf("replayed order is not the first answer (-first +got):\n%s", diff)
						}
						if diff := cmp.Diff(before, after); diff != "" {
							t.Errorf("a replay changed the store (-before +after):\n%s", diff)
						}
					default:
						if diff := cmp.Diff(before, after); diff != "" {
							t.Errorf("a refusal changed the store (-before +after):\n%s", diff)
						}
					}
				})
			}
		})
	}
}

// discHash is a disc's hash as the scripts write it.
func discHash(ver, avail, price int64, limit int, starts time.Time, active bool) map[string]string {
	a := "0"
	if active {
		a = "1"
	}
	return map[string]string{"ver": strconv.FormatInt(ver, 10), "avail": strconv.FormatInt(avail, 10),
		"price": strconv.FormatInt(price, 10), "limit": strconv.Itoa(limit),
		"starts": strconv.FormatInt(starts.UnixMilli(), 10), "active": a}
}

// withDisc is state with discID's hash and bought hash replaced (an empty bought hash is no key at all).
func (f fixture) withDisc(state map[string]any, disc, bought map[string]string) map[string]any {
	want := maps.Clone(state)
	want[f.k.Disc(discID)] = disc
	delete(want, f.k.Bought(discID))
	if len(bought) > 0 {
		want[f.k.Bought(discID)] = bought
	}
	return want
}

func TestApplyScript(t *testing.T) {
	starts := now.Add(-time.Hour)
	later := now.Add(48 * time.Hour)
	// The disc in Redis before each row: version 5, 10 units, limit 4; customer 42 holds 3 units, 43 holds 1.
	base := *liveDisc(discID, 10, limit(4))
	baseBought := map[int64]int64{buyer: 3, other: 1}
	// change is stock event v with delta, carrying the disc as of v (unchanged fields unless a row says otherwise).
	change := func(v, delta int64) rsredis.Change {
		d := base
		d.Version, d.Avail = v, 0
		return rsredis.Change{Disc: d, Delta: delta}
	}
	cancel := func(v int64, customer, units int64) rsredis.Change {
		c := change(v, units)
		c.CustomerID, c.CustomerDelta = customer, -units
		return c
	}
	guarded := func(c rsredis.Change) rsredis.Change { c.Guard = true; return c }
	restock := change(6, 5)
	restock.Disc.PriceCents, restock.Disc.Limit, restock.Disc.StartsAt, restock.Disc.Active = 2999, 6, later, false

	rows := []struct {
		name       string
		missing    bool // the disc is not in Redis
		prep       func(f fixture)
		change     rsredis.Change
		want       rsredis.ApplyCode
		value      int64
		wantDisc   map[string]string // nil: nothing may change
		wantBought map[string]string
	}{
		{name: "restock moves stock and version and updates the disc", change: restock,
			want: rsredis.Applied, value: 15,
			wantDisc:   discHash(6, 15, 2999, 6, later, false),
			wantBought: map[string]string{"42": "3", "43": "1"}},
		{name: "cancel gives units back to the disc and the customer", change: cancel(6, buyer, 2),
			want: rsredis.Applied, value: 12,
			wantDisc:   discHash(6, 12, priceCents, 4, starts, true),
			wantBought: map[string]string{"42": "1", "43": "1"}},
		{name: "cancel of all a customer's units removes the customer", change: cancel(6, buyer, 3),
			want: rsredis.Applied, value: 13,
			wantDisc:   discHash(6, 13, priceCents, 4, starts, true),
			wantBought: map[string]string{"43": "1"}},
		{name: "versions apply one after another", prep: func(f fixture) { f.mustApply(change(6, 1)) },
			change: change(7, 1), want: rsredis.Applied, value: 12,
			wantDisc:   discHash(7, 12, priceCents, 4, starts, true),
			wantBought: map[string]string{"42": "3", "43": "1"}},
		{name: "unguarded negative delta applies", change: change(6, -4),
			want: rsredis.Applied, value: 6,
			wantDisc:   discHash(6, 6, priceCents, 4, starts, true),
			wantBought: map[string]string{"42": "3", "43": "1"}},
		{name: "unguarded negative delta applies as is, even below zero", change: change(6, -11),
			want: rsredis.Applied, value: -1,
			wantDisc:   discHash(6, -1, priceCents, 4, starts, true),
			wantBought: map[string]string{"42": "3", "43": "1"}},
		{name: "guard lets stock reach zero", change: guarded(change(6, -10)),
			want: rsredis.Applied, value: 0,
			wantDisc:   discHash(6, 0, priceCents, 4, starts, true),
			wantBought: map[string]string{"42": "3", "43": "1"}},

		{name: "duplicate of the applied version", change: change(5, 7), want: rsredis.Duplicate, value: 5},
		{name: "duplicate of an older version", change: change(3, 7), want: rsredis.Duplicate, value: 5},
		{name: "duplicate cancel gives nothing back twice", prep: func(f fixture) { f.mustApply(cancel(6, buyer, 2)) },
			change: cancel(6, buyer, 2), want: rsredis.Duplicate, value: 6},
		{name: "gap: a version skipped", change: change(7, 7), want: rsredis.Gap, value: 5},
		{name: "missing disc", missing: true, change: cancel(6, buyer, 2), want: rsredis.Missing},
		{name: "short: guard refuses going below zero", change: guarded(change(6, -11)),
			want: rsredis.Short, value: 10},
		{name: "short leaves a cancel's customer alone", change: guarded(rsredis.Change{Disc: change(6, 0).Disc,
			Delta: -11, CustomerID: buyer, CustomerDelta: -3}), want: rsredis.Short, value: 10},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			for _, row := range rows {
				t.Run(row.name, func(t *testing.T) {
					f := newFixture(t, b)
					if !row.missing {
						f.load(base, baseBought)
					}
					if row.prep != nil {
						row.prep(f)
					}
					before := f.dump()

					code, v, err := f.g.Apply(t.Context(), row.change)
					if err != nil {
						t.Fatal(err)
					}
					if code != row.want || v != row.value {
						t.Fatalf("answer %d (value %d), want %d (value %d)", code, v, row.want, row.value)
					}
					want := before
					if row.wantDisc != nil {
						want = f.withDisc(before, row.wantDisc, row.wantBought)
					}
					if diff := cmp.Diff(want, f.dump()); diff != "" {
						t.Errorf("store after apply (-want +got):\n%s", diff)
					}
				})
			}
		})
	}
}

func TestLoadScript(t *testing.T) {
	starts := now.Add(-time.Hour)
	state := *liveDisc(discID, 10, limit(4))
	rows := []struct {
		name       string
		prep       func(f fixture)
		state      rsredis.DiscState
		bought     map[int64]int64
		loaded     bool
		wantDisc   map[string]string // nil: nothing may change
		wantBought map[string]string
	}{
		{name: "loads a missing disc with its bought units", state: state,
			bought: map[int64]int64{buyer: 3, other: 1}, loaded: true,
			wantDisc:   discHash(5, 10, priceCents, 4, starts, true),
			wantBought: map[string]string{"42": "3", "43": "1"}},
		{name: "loads a disc nobody bought", state: state, loaded: true,
			wantDisc: discHash(5, 10, priceCents, 4, starts, true)},
		{name: "loads an archived disc inactive", state: *liveDisc(discID, 10, archived), loaded: true,
			wantDisc: discHash(5, 10, priceCents, 0, starts, false)},
		{name: "load replaces bought units left without their disc",
			prep: func(f fixture) {
				if err := f.rdb.HSet(f.t.Context(), f.k.Bought(discID), "99", 5).Err(); err != nil {
					f.t.Fatal(err)
				}
			},
			state: state, bought: map[int64]int64{buyer: 3}, loaded: true,
			wantDisc:   discHash(5, 10, priceCents, 4, starts, true),
			wantBought: map[string]string{"42": "3"}},
		{name: "second load writes nothing, live stock stays",
			prep: func(f fixture) {
				f.load(state, map[int64]int64{other: 1})
				f.mustReserve(request(buyer, discID, 2, "key-1"))
			},
			state: rsredis.DiscState{ID: discID, Version: 9, Avail: 100, PriceCents: 1, Limit: 50,
				StartsAt: now.Add(time.Hour), Active: false},
			bought: map[int64]int64{buyer: 0, 44: 7}, loaded: false},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			for _, row := range rows {
				t.Run(row.name, func(t *testing.T) {
					f := newFixture(t, b)
					if row.prep != nil {
						row.prep(f)
					}
					before := f.dump()

					loaded, err := f.g.Load(t.Context(), row.state, row.bought)
					if err != nil {
						t.Fatal(err)
					}
					if loaded != row.loaded {
						t.Fatalf("loaded %v, want %v", loaded, row.loaded)
					}
					want := before
					if row.wantDisc != nil {
						want = f.withDisc(before, row.wantDisc, row.wantBought)
					}
					if diff := cmp.Diff(want, f.dump()); diff != "" {
						t.Errorf("store after load (-want +got):\n%s", diff)
					}
				})
			}
		})
	}
}

// TestReserveUnderContention races 400 buyers for 50 units on the real server: the script must sell exactly the
// stock, each sale with one stream entry and one pending record.
func TestReserveUnderContention(t *testing.T) {
	const stock, buyers = 50, 400
	f := realRedis(t)
	f.load(*liveDisc(discID, stock), nil)

	results := make([]rsredis.ReserveResult, buyers)
	errs := make([]error, buyers)
	var wg sync.WaitGroup
	for i := range buyers {
		wg.Go(func() {
			results[i], errs[i] = f.g.Reserve(t.Context(), request(1000+int64(i), discID, 1, "key-"+strconv.Itoa(i)))
		})
	}
	wg.Wait()

	sold := map[string]bool{}
	counts := map[rsredis.ReserveCode]int{}
	for i, res := range results {
		if errs[i] != nil {
			t.Fatalf("buyer %d: %v", i, errs[i])
		}
		counts[res.Code]++
		switch res.Code {
		case rsredis.Reserved:
			sold[res.Order.ID.String()] = true
		case rsredis.SoldOut:
			if res.Value != 0 {
				t.Errorf("buyer %d: sold out with %d units left", i, res.Value)
			}
		}
	}
	if diff := cmp.Diff(map[rsredis.ReserveCode]int{rsredis.Reserved: stock, rsredis.SoldOut: buyers - stock}, counts); diff != "" {
		t.Fatalf("answers (-want +got):\n%s", diff)
	}

	ctx := t.Context()
	p := f.k.Partition(discID)
	avail, err := f.g.Available(ctx, []int64{discID})
	if err != nil {
		t.Fatal(err)
	}
	if avail[discID] != 0 {
		t.Errorf("avail %d after selling out, want 0", avail[discID])
	}
	entries, err := f.rdb.XRange(ctx, f.k.Stream(p), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	streamed := map[string]bool{}
	for _, e := range entries {
		o, err := model.ParseRecord(e.Values["o"].(string))
		if err != nil {
			t.Fatal(err)
		}
		streamed[o.ID.String()] = true
	}
	if len(entries) != stock || !maps.Equal(sold, streamed) {
		t.Errorf("stream has %d entries for %d distinct orders; want exactly the %d reserved orders",
			len(entries), len(streamed), len(sold))
	}
	pending, err := f.rdb.HKeys(ctx, f.k.Pending(p)).Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(pending)
	if want := slices.Sorted(maps.Keys(sold)); !slices.Equal(want, pending) {
		t.Errorf("pending holds %d orders, want the %d reserved", len(pending), len(want))
	}
	bought, err := f.rdb.HGetAll(ctx, f.k.Bought(discID)).Result()
	if err != nil {
		t.Fatal(err)
	}
	for c, n := range bought {
		if n != "1" {
			t.Errorf("customer %s holds %s units, bought 1", c, n)
		}
	}
	if len(bought) != stock {
		t.Errorf("%d customers hold units, want %d", len(bought), stock)
	}
}

// TestReserveLimitUnderContention sends one customer's 20 concurrent orders at a disc with a limit of 2: the
// limit holds however the requests interleave.
func TestReserveLimitUnderContention(t *testing.T) {
	const tries = 20
	f := realRedis(t)
	f.load(*liveDisc(discID, 100, limit(2)), nil)

	results := make([]rsredis.ReserveResult, tries)
	errs := make([]error, tries)
	var wg sync.WaitGroup
	for i := range tries {
		wg.Go(func() { results[i], errs[i] = f.g.Reserve(t.Context(), request(buyer, discID, 1, "")) })
	}
	wg.Wait()

	counts := map[rsredis.ReserveCode]int{}
	for i, res := range results {
		if errs[i] != nil {
			t.Fatalf("try %d: %v", i, errs[i])
		}
		counts[res.Code]++
		if res.Code == rsredis.OverLimit && res.Value != 0 {
			t.Errorf("try %d: over limit with %d units still allowed", i, res.Value)
		}
	}
	if diff := cmp.Diff(map[rsredis.ReserveCode]int{rsredis.Reserved: 2, rsredis.OverLimit: tries - 2}, counts); diff != "" {
		t.Fatalf("answers (-want +got):\n%s", diff)
	}
	ctx := t.Context()
	if n, err := f.rdb.HGet(ctx, f.k.Bought(discID), strconv.FormatInt(buyer, 10)).Int(); err != nil || n != 2 {
		t.Errorf("customer holds %d units (err %v), want 2", n, err)
	}
	if avail, err := f.g.Available(ctx, []int64{discID}); err != nil || avail[discID] != 98 {
		t.Errorf("avail %v (err %v), want 98", avail, err)
	}
	if n, err := f.rdb.XLen(ctx, f.k.Stream(f.k.Partition(discID))).Result(); err != nil || n != 2 {
		t.Errorf("stream has %d entries (err %v), want 2", n, err)
	}
}

// TestReserveAfterScriptFlush: a Redis restart (or SCRIPT FLUSH) empties the script cache; the next reservation
// must still work, through EVAL after EVALSHA's NOSCRIPT.
func TestReserveAfterScriptFlush(t *testing.T) {
	f := realRedis(t)
	ctx := t.Context()
	f.load(*liveDisc(discID, 5), nil)
	f.mustReserve(request(buyer, discID, 1, ""))

	sha := goredis.NewScript(lua.Reserve).Hash()
	if err := f.rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if cached, err := f.rdb.ScriptExists(ctx, sha).Result(); err != nil || cached[0] {
		t.Fatalf("reserve.lua still cached after SCRIPT FLUSH (%v, %v): the test would not reach NOSCRIPT", cached, err)
	}

	res, err := f.g.Reserve(ctx, request(buyer, discID, 2, "key-1"))
	if err != nil {
		t.Fatalf("reserve after SCRIPT FLUSH: %v", err)
	}
	if res.Code != rsredis.Reserved || res.Order.Quantity != 2 {
		t.Fatalf("reserve after SCRIPT FLUSH: code %d, order %+v", res.Code, res.Order)
	}
	if avail, err := f.g.Available(ctx, []int64{discID}); err != nil || avail[discID] != 2 {
		t.Errorf("avail %v (err %v), want 2", avail, err)
	}
}

// hashTag is the part of a key Redis Cluster hashes to pick its slot: what lies between the first "{" and the
// first "}" after it when that is not empty, the whole key otherwise.
func hashTag(key string) string {
	open := strings.IndexByte(key, '{')
	if open < 0 {
		return key
	}
	n := strings.IndexByte(key[open+1:], '}')
	if n <= 0 {
		return key
	}
	return key[open+1 : open+1+n]
}

// TestKeysShareTheirPartitionSlot: every key one script touches must hash to one slot on Redis Cluster, which
// holds when they all carry the partition's tag as their first {...}.
func TestKeysShareTheirPartitionSlot(t *testing.T) {
	const p = 16
	k := rsredis.Keys{Namespace: "shop:", Partitions: p}
	for _, id := range []int64{1, 7, 15, 16, 23, 1_000_003} {
		part := k.Partition(id)
		if part < 0 || part >= p {
			t.Fatalf("disc %d: partition %d out of [0, %d)", id, part, p)
		}
		keys := []string{k.Disc(id), k.Bought(id), k.Idempotency(id, buyer, "key-1"), k.Inactive(part),
			k.Stream(part), k.Pending(part), k.DeadLetters(part)}
		for _, key := range keys {
			if !strings.HasPrefix(key, k.Namespace) {
				t.Errorf("key %q is outside the namespace %q", key, k.Namespace)
			}
			if got, want := hashTag(key), strconv.Itoa(part); got != want {
				t.Errorf("disc %d: key %q hashes on %q, want the partition tag %q", id, key, got, want)
			}
		}
		if k.Partition(id+p) != part || hashTag(k.Disc(id+p)) != hashTag(k.Disc(id)) {
			t.Errorf("discs %d and %d are in partitions %d and %d, want the same", id, id+p, part, k.Partition(id+p))
		}
		if k.Partition(id+1) == part || hashTag(k.Disc(id+1)) == hashTag(k.Disc(id)) {
			t.Errorf("discs %d and %d share partition %d", id, id+1, part)
		}
		if k.Disc(id) == k.Disc(id+p) || k.Bought(id) == k.Bought(id+p) {
			t.Errorf("discs %d and %d share a key", id, id+p)
		}
	}
	if k.Idempotency(7, buyer, "key-1") == k.Idempotency(7, other, "key-1") {
		t.Error("two customers' idempotency keys collide")
	}
}
