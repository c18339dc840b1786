package redis_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/learecordshop/recordshop/biz/model"
	rsredis "github.com/learecordshop/recordshop/dal/redis"
	"github.com/learecordshop/recordshop/dal/testenv"
	"github.com/learecordshop/recordshop/scripts/lua"
)

// afterReserve is state with the effects of one reservation added, as reserve.lua's header specifies them:
// avail down by the quantity, the customer's units up by it when the disc has a per-customer limit, one stream
// entry and one pending record with the order record, and the idempotency answer when there is a fingerprint.
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

	if disc["limit"] != "0" {
		bought, _ := want[f.k.Bought(o.DiscID)].(map[string]string)
		bought = maps.Clone(bought)
		if bought == nil {
			bought = map[string]string{}
		}
		customer := strconv.FormatInt(o.CustomerID, 10)
		had, _ := strconv.ParseInt(bought[customer], 10, 64)
		bought[customer] = strconv.FormatInt(had+int64(o.Quantity), 10)
		want[f.k.Bought(o.DiscID)] = bought
	}

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
	}
	// The batch's answers, kept briefly, so that a resent command gets them again instead of selling twice.
	answers, _ := want[f.k.Batch(p, "*")].([]string)
	price, err := rsredis.ParseRecord(record)
	if err != nil {
		f.t.Fatal(err)
	}
	answers = append(slices.Clone(answers), fmt.Sprintf("1\n%d\n%s", price.UnitPriceCents, streamID))
	slices.Sort(answers)
	want[f.k.Batch(p, "*")] = answers
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
						if diff := cmp.Diff(f.afterReserve(before, row.req, rsredis.Record(want), res.StreamID), after); diff != "" {
							t.Errorf("store after the reservation (-want +got):\n%s", diff)
						}
						expiries := map[string]time.Duration{}
						for _, key := range f.batchKeys() {
							expiries[key] = time.Minute
						}
						if row.req.Fingerprint != "" {
							expiries[f.k.Idempotency(o.DiscID, o.CustomerID, o.IdempotencyKey)] = idemTTL
						}
						for key, wantTTL := range expiries {
							ttl, err := f.rdb.TTL(t.Context(), key).Result()
							if err != nil {
								t.Fatal(err)
							}
							if ttl <= wantTTL-10*time.Second || ttl > wantTTL {
								t.Errorf("%s expires in %v, want %v", key, ttl, wantTTL)
							}
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

// TestReserveUnderContention races 400 buyers for 50 units on the real server: the script must sell exactly the
// stock, each sale with one stream entry, one pending record and (the disc has a per-customer limit, which no
// buyer reaches) one unit counted for its customer.
func TestReserveUnderContention(t *testing.T) {
	const stock, buyers = 50, 400
	f := realRedis(t)
	f.load(*liveDisc(discID, stock, limit(5)), nil)

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
	records := 0
	for _, e := range entries {
		for rec := range strings.SplitSeq(e.Values["o"].(string), "\n") {
			o, err := rsredis.ParseRecord(rec)
			if err != nil {
				t.Fatal(err)
			}
			streamed[o.ID.String()] = true
			records++
		}
	}
	if records != stock || !maps.Equal(sold, streamed) {
		t.Errorf("stream has %d records for %d distinct orders; want exactly the %d reserved orders",
			records, len(streamed), len(sold))
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
// limit holds however the requests interleave, between batches and inside one (each order of a batch sees the
// units the ones before it took).
func TestReserveLimitUnderContention(t *testing.T) {
	const tries = 20
	f := realRedis(t)
	f.load(*liveDisc(discID, 100, limit(2)), nil)
	counter := &scriptCalls{}
	f.rdb.AddHook(counter)

	results := make([]rsredis.ReserveResult, tries)
	errs := make([]error, tries)
	together(t, f, tries, func(i int) { results[i], errs[i] = f.g.Reserve(t.Context(), request(buyer, discID, 1, "")) })

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
	entries, err := f.rdb.XRange(ctx, f.k.Stream(f.k.Partition(discID)), "-", "+").Result()
	records := 0
	for _, e := range entries {
		records += len(strings.Split(e.Values["o"].(string), "\n"))
	}
	if err != nil || records != 2 {
		t.Errorf("stream holds %d orders (err %v), want 2", records, err)
	}
	if calls := counter.calls.Load(); calls >= tries {
		t.Fatalf("%d orders in %d script calls: no batch held two of them, the test proves nothing inside a batch", tries, calls)
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

// TestReserveAsksForUnitsRedisLacks drives reserve.lua and apply.lua on a disc of which Redis knows only some
// buyers (known = 0, loaded partial): a buyer it lacks is answered NeedUnits until the call carries their
// units from Postgres at Redis' stock version; those units then count against the limit and stay in Redis.
func TestReserveAsksForUnitsRedisLacks(t *testing.T) {
	units := func(n, version int64) *model.BuyerUnits { return &model.BuyerUnits{Units: n, Version: version} }
	with := func(r rsredis.Reservation, u *model.BuyerUnits) rsredis.Reservation { r.Units = u; return r }
	rows := []struct {
		name        string
		avail       int64
		req         rsredis.Reservation
		want        rsredis.ReserveCode
		value       int64
		wantBuyer   string // the buyer's field after the call; "" = absent
		wantAvail   int64
		wantPending int
	}{
		{name: "a buyer Redis lacks is asked for", avail: 10, req: request(buyer, discID, 1, ""),
			want: rsredis.NeedUnits, value: 5, wantAvail: 10},
		{name: "units read at another version are asked for again", avail: 10,
			req: with(request(buyer, discID, 1, ""), units(0, 4)), want: rsredis.NeedUnits, value: 5, wantAvail: 10},
		{name: "units at Redis' version count", avail: 10, req: with(request(buyer, discID, 2, ""), units(1, 5)),
			want: rsredis.Reserved, wantBuyer: "3", wantAvail: 8, wantPending: 1},
		{name: "units at the limit refuse, and stay known", avail: 10, req: with(request(buyer, discID, 2, ""), units(3, 5)),
			want: rsredis.OverLimit, value: 1, wantBuyer: "3", wantAvail: 10},
		{name: "a buyer Redis holds is not asked for", avail: 10, req: request(other, discID, 1, ""),
			want: rsredis.Reserved, wantAvail: 9, wantPending: 1},
		{name: "sold out is answered without asking", avail: 0, req: request(buyer, discID, 1, ""),
			want: rsredis.SoldOut, value: 0, wantAvail: 0},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			for _, row := range rows {
				t.Run(row.name, func(t *testing.T) {
					f := newFixture(t, b)
					ctx := t.Context()
					item := rsredis.LoadItem{State: *liveDisc(discID, row.avail, limit(4)), Bought: map[int64]int64{other: 1}, Partial: true}
					if _, err := f.g.LoadAll(ctx, []rsredis.LoadItem{item}); err != nil {
						t.Fatal(err)
					}
					res, err := f.g.Reserve(ctx, row.req)
					if err != nil {
						t.Fatal(err)
					}
					if res.Code != row.want || res.Value != row.value {
						t.Fatalf("answer %d (value %d), want %d (value %d)", res.Code, res.Value, row.want, row.value)
					}
					got, err := f.rdb.HGet(ctx, f.k.Bought(discID), strconv.FormatInt(buyer, 10)).Result()
					if err != nil && !errors.Is(err, goredis.Nil) {
						t.Fatal(err)
					}
					if got != row.wantBuyer {
						t.Errorf("buyer's units in redis %q, want %q", got, row.wantBuyer)
					}
					if avail, _ := f.rdb.HGet(ctx, f.k.Disc(discID), "avail").Int64(); avail != row.wantAvail {
						t.Errorf("avail %d, want %d", avail, row.wantAvail)
					}
					if n, _ := f.rdb.HLen(ctx, f.k.Pending(f.k.Partition(discID))).Result(); n != int64(row.wantPending) {
						t.Errorf("%d pending orders, want %d", n, row.wantPending)
					}
				})
			}
		})
	}
}

// TestApplyCancelOfABuyerRedisLacks: on a disc loaded partial, a cancel of a buyer Redis does not hold leaves
// their units to Postgres (which has the cancel) instead of writing a negative count; one Redis holds moves.
func TestApplyCancelOfABuyerRedisLacks(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b)
			ctx := t.Context()
			state := *liveDisc(discID, 10, limit(4))
			if _, err := f.g.LoadAll(ctx, []rsredis.LoadItem{{State: state, Bought: map[int64]int64{other: 2}, Partial: true}}); err != nil {
				t.Fatal(err)
			}
			for i, c := range []int64{buyer, other} {
				ch := rsredis.Change{Disc: state, Delta: 1, CustomerID: c, CustomerDelta: -1}
				ch.Disc.Version = 6 + int64(i)
				f.mustApply(ch)
			}
			bought, err := f.rdb.HGetAll(ctx, f.k.Bought(discID)).Result()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(map[string]string{"43": "1"}, bought); diff != "" {
				t.Errorf("buyers after the cancels (-want +got):\n%s", diff)
			}
		})
	}
}

// scriptCalls counts the script calls (EVALSHA, EVAL) a client sends, and the reservations in them.
type scriptCalls struct{ calls, reservations atomic.Int64 }

func (h *scriptCalls) DialHook(next goredis.DialHook) goredis.DialHook { return next }
func (h *scriptCalls) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return next
}
func (h *scriptCalls) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if cmd.Name() == "evalsha" || cmd.Name() == "eval" {
			h.calls.Add(1)
			args := cmd.Args() // evalsha, sha, numkeys, keys..., ARGV[1] (the orders in the batch), ...
			if keys, ok := args[2].(int); ok {
				if n, ok := args[3+keys].(int); ok {
					h.reservations.Add(int64(n))
				}
			}
		}
		return next(ctx, cmd)
	}
}

// TestConcurrentReservationsGoTogether: reservations of one partition that arrive while one of its batches is
// out go to Redis together, fewer script calls than reservations, and each gets the answer it would have had
// alone: 300 buyers of 100 units, one each, sell exactly 100, and a replay in a batch answers its first order.
// (together holds the first call until the others wait behind it: on a loaded machine they could otherwise
// each arrive after the last had gone.)
func TestConcurrentReservationsGoTogether(t *testing.T) {
	const stock, buyers = 100, 300
	f := realRedis(t)
	f.load(*liveDisc(discID, stock), nil)
	first := f.mustReserve(request(buyer, discID, 1, "first"))
	counter := &scriptCalls{}
	f.rdb.AddHook(counter)

	results := make([]rsredis.ReserveResult, buyers)
	errs := make([]error, buyers)
	together(t, f, buyers, func(i int) {
		r := request(2000+int64(i), discID, 1, "")
		if i == buyers/2 {
			r = request(buyer, discID, 1, "first") // the repeat of the first order
		}
		results[i], errs[i] = f.g.Reserve(t.Context(), r)
	})
	counts := map[rsredis.ReserveCode]int{}
	for i, res := range results {
		if errs[i] != nil {
			t.Fatalf("buyer %d: %v", i, errs[i])
		}
		counts[res.Code]++
		if res.Code == rsredis.Replayed && res.Order.ID != first.ID {
			t.Errorf("the repeat replayed %s; want the first order %s", res.Order.ID, first.ID)
		}
	}
	if counts[rsredis.Reserved] != stock-1 || counts[rsredis.Replayed] != 1 || counts[rsredis.SoldOut] != buyers-stock {
		t.Fatalf("answers %v; want %d reserved, 1 replayed, %d sold out", counts, stock-1, buyers-stock)
	}
	if avail, _ := f.rdb.HGet(t.Context(), f.k.Disc(discID), "avail").Int64(); avail != 0 {
		t.Fatalf("avail %d after the sale; want 0", avail)
	}
	calls, reservations := counter.calls.Load(), counter.reservations.Load()
	t.Logf("%d reservations in %d script calls", reservations, calls)
	if reservations != buyers || calls >= buyers {
		t.Fatalf("%d reservations in %d script calls; want all %d, in fewer calls", reservations, calls, buyers)
	}

	// A batch's orders share one stream entry: the writer reads each order once, at the position its answer
	// named, and the entries are fewer than the orders.
	s := rsredis.NewStreams(f.rdb, f.k)
	p := f.k.Partition(discID)
	if err := s.EnsureGroup(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	read, err := s.ReadNew(t.Context(), p, "w", -1, buyers)
	if err != nil {
		t.Fatal(err)
	}
	want := map[uuid.UUID]string{first.ID: ""}
	for _, res := range results {
		if res.Code == rsredis.Reserved {
			want[res.Order.ID] = res.StreamID
		}
	}
	got := map[uuid.UUID]string{}
	ids := map[string]bool{}
	for _, e := range read {
		if e.Err != nil {
			t.Fatalf("entry %s: %v", e.ID, e.Err)
		}
		if _, twice := got[e.Order.ID]; twice {
			t.Fatalf("order %s read twice", e.Order.ID)
		}
		got[e.Order.ID], ids[e.ID] = e.Order.StreamID, true
	}
	want[first.ID] = got[first.ID] // reserved alone, before the hook counted
	if !maps.Equal(want, got) {
		t.Fatalf("the stream holds %d orders, want the %d reserved, each at the position its answer named", len(got), len(want))
	}
	if len(ids) >= len(got) {
		t.Fatalf("%d stream entries for %d orders; want the batches' orders sharing entries", len(ids), len(got))
	}
}

// TestOneBatchAnswersAsEachAlone runs the same reservations of one partition twice, on two copies of one state:
// one at a time, and all in one script call. Every answer, every order and what Redis holds afterwards must be
// the same, but for how the orders are grouped into stream entries: a batch is an optimisation, never a
// different rule. The reservations cover every answer and mix four discs, replays and reused keys of earlier
// orders of the same batch, and units read from Postgres.
func TestOneBatchAnswersAsEachAlone(t *testing.T) {
	const (
		unknown   = int64(11) // partition 3, never loaded
		partial   = int64(15) // partition 3, loaded without every buyer
		later     = int64(19) // partition 3, sale starts in an hour
		deactived = int64(99)
	)
	units := &model.BuyerUnits{Units: 1, Version: 5}
	withUnits := func(r rsredis.Reservation) rsredis.Reservation { r.Units = units; return r }
	first := request(buyer, discID, 1, "a")
	rows := []struct {
		req   rsredis.Reservation
		want  rsredis.ReserveCode
		value int64
	}{
		{first, rsredis.Reserved, 0},
		{request(buyer, discID, 1, "a"), rsredis.Replayed, 0},
		{request(buyer, discID, 2, "a"), rsredis.KeyReused, 0},
		{request(buyer, discID, 2, ""), rsredis.OverLimit, 1},
		{request(other, neighbour, 2, ""), rsredis.Reserved, 0},
		{request(other+1, neighbour, 1, ""), rsredis.SoldOut, 0},
		{request(deactived, discID, 1, ""), rsredis.Inactive, 0},
		{request(buyer, unknown, 1, "c"), rsredis.NoDisc, 0},
		{request(other, discID, 2, "b"), rsredis.Reserved, 0},
		{request(other+2, discID, 2, ""), rsredis.Reserved, 0},
		{request(other+3, discID, 1, ""), rsredis.SoldOut, 0},
		{request(buyer, partial, 1, ""), rsredis.NeedUnits, 5},
		{withUnits(request(buyer, partial, 2, "d")), rsredis.Reserved, 0},
		{withUnits(request(buyer, partial, 2, "")), rsredis.OverLimit, 1},
		{request(other, partial, 1, ""), rsredis.Reserved, 0},
		{request(other, later, 1, ""), rsredis.NotStarted, now.Add(time.Hour).UnixMilli()},
		{request(other, partial, 1, ""), rsredis.Backlog, 6},
	}
	rs := make([]rsredis.Reservation, len(rows))
	for i, row := range rows {
		rs[i] = bounded(row.req, 6) // the sixth order fills the backlog: the last reservation is shed
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			setup := func(f fixture) {
				f.load(*liveDisc(discID, 5, limit(2)), nil)
				f.load(*liveDisc(neighbour, 2), nil)
				f.load(*liveDisc(later, 5, startsAt(now.Add(time.Hour))), nil)
				item := rsredis.LoadItem{State: *liveDisc(partial, 10, limit(4)), Bought: map[int64]int64{other: 1}, Partial: true}
				if _, err := f.g.LoadAll(f.t.Context(), []rsredis.LoadItem{item}); err != nil {
					f.t.Fatal(err)
				}
				f.setInactive(deactived, true)
			}
			alone, together := newFixture(t, b), newFixture(t, b)
			setup(alone)
			setup(together)

			one := make([]rsredis.ReserveResult, len(rs))
			for i, r := range rs {
				var err error
				if one[i], err = alone.g.Reserve(t.Context(), r); err != nil {
					t.Fatalf("reservation %d alone: %v", i, err)
				}
			}
			all, err := rsredis.ReserveBatch(t.Context(), together.g, rs)
			if err != nil {
				t.Fatal(err)
			}
			for i, row := range rows {
				a, b := one[i], all[i]
				if a.Code != row.want || a.Value != row.value {
					t.Errorf("reservation %d alone: code %d (value %d), want %d (value %d)", i, a.Code, a.Value, row.want, row.value)
				}
				if b.Code != a.Code || b.Value != a.Value {
					t.Errorf("reservation %d in the batch: code %d (value %d); alone %d (value %d)", i, b.Code, b.Value, a.Code, a.Value)
				}
				if diff := cmp.Diff(a.Order, b.Order); diff != "" {
					t.Errorf("reservation %d: the batch's order differs from the one alone (-alone +batch):\n%s", i, diff)
				}
			}
			if one[1].Order.ID != first.Order.ID {
				t.Errorf("the replay answered order %s, want the first %s", one[1].Order.ID, first.Order.ID)
			}
			if diff := cmp.Diff(comparable(t, alone), comparable(t, together)); diff != "" {
				t.Errorf("Redis after the reservations alone and in one batch (-alone +batch):\n%s", diff)
			}
		})
	}
}

// comparable is f's dump without its namespace, with the batches' answers left out and each partition's
// stream read as the set of order records it holds, however they are grouped into entries.
func comparable(t *testing.T, f fixture) map[string]any {
	t.Helper()
	out := map[string]any{}
	for key, v := range f.dump() {
		key = strings.TrimPrefix(key, f.ns)
		if strings.HasSuffix(key, ":batch:*") {
			continue
		}
		if entries, ok := v.([]goredis.XMessage); ok {
			var records []string
			for _, m := range entries {
				records = append(records, strings.Split(m.Values["o"].(string), "\n")...)
			}
			slices.Sort(records)
			v = records
		}
		out[key] = v
	}
	return out
}

// TestConcurrentReservationsKeepTheirOwnBacklogBound: reservations with different backlog bounds that arrive
// together are each checked against their own, however the batcher groups them. With at least one order
// pending, every reservation bounded at 1 is shed and every unbounded one reserved. They go to Redis together
// (together), half with one bound and half with the other, so the batcher has to split them.
func TestConcurrentReservationsKeepTheirOwnBacklogBound(t *testing.T) {
	const buyers = 200
	f := realRedis(t)
	f.load(*liveDisc(discID, buyers+1), nil)
	f.mustReserve(request(buyer, discID, 1, "")) // the one pending order
	counter := &scriptCalls{}
	f.rdb.AddHook(counter)

	results := make([]rsredis.ReserveResult, buyers)
	errs := make([]error, buyers)
	together(t, f, buyers, func(i int) {
		results[i], errs[i] = f.g.Reserve(t.Context(), bounded(request(int64(2000+i), discID, 1, ""), boundOf(i)))
	})
	for i, res := range results {
		want := rsredis.Reserved
		if boundOf(i) == 1 {
			want = rsredis.Backlog
		}
		if errs[i] != nil || res.Code != want {
			t.Fatalf("reservation %d (bound %d): code %d, err %v; want %d", i, boundOf(i), res.Code, errs[i], want)
		}
	}
	// One held call, then the 199 that waited: at most 64 a call, and a new call wherever the bound changes.
	if calls := counter.calls.Load(); calls >= buyers {
		t.Fatalf("%d reservations in %d script calls: they did not go together", buyers, calls)
	}
}

// boundOf is reservation i's backlog bound in TestConcurrentReservationsKeepTheirOwnBacklogBound: 0 (none)
// for the first half, 1 for the second, so that a batch of them holds both.
func boundOf(i int) int {
	if i < 100 {
		return 0
	}
	return 1
}

// together runs reserve(i) for every i below n at once, all of one partition, and holds the first script call
// until every other reservation waits behind it in the batcher: they then go to Redis together, however fast or
// loaded the machine is.
func together(t *testing.T, f fixture, n int, reserve func(i int)) {
	t.Helper()
	hold := newHoldFirstScript()
	f.rdb.AddHook(hold)
	var wg sync.WaitGroup
	defer wg.Wait()
	released := false
	defer func() {
		if !released {
			close(hold.release) // let the held call go before failing
		}
	}()
	for i := range n {
		wg.Go(func() { reserve(i) })
	}
	select {
	case <-hold.holding:
	case <-time.After(10 * time.Second):
		t.Fatal("no script call within 10 s")
	}
	testenv.Eventually(t, 10*time.Second, "every other reservation waits behind the held batch", func() (bool, string) {
		waiting := rsredis.Queued(f.g, discID)
		return waiting == n-1, fmt.Sprintf("%d waiting", waiting)
	})
	released = true
	close(hold.release)
}

// holdFirstScript holds the first script call that passes it until release is closed, after saying so on
// holding; later calls pass.
type holdFirstScript struct {
	held             atomic.Bool
	holding, release chan struct{}
}

func newHoldFirstScript() *holdFirstScript {
	return &holdFirstScript{holding: make(chan struct{}), release: make(chan struct{})}
}

func (h *holdFirstScript) DialHook(next goredis.DialHook) goredis.DialHook { return next }
func (h *holdFirstScript) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return next
}
func (h *holdFirstScript) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if (cmd.Name() == "evalsha" || cmd.Name() == "eval") && h.held.CompareAndSwap(false, true) {
			close(h.holding)
			<-h.release
		}
		return next(ctx, cmd)
	}
}
