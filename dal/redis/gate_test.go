package redis_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/learecordshop/recordshop/biz/model"
	rsredis "github.com/learecordshop/recordshop/dal/redis"
	"github.com/learecordshop/recordshop/dal/testenv"
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
	open func(t *testing.T) (goredis.UniversalClient, string) // a client and a key namespace of the test's own
}

// backends: miniredis (gopher-lua) and the real Redis, whose Lua is the one production runs. A script that only
// works on one of them fails here.
var backends = []backend{
	{"miniredis", func(t *testing.T) (goredis.UniversalClient, string) {
		mr := miniredis.RunT(t)
		rdb := goredis.NewClient(&goredis.Options{Addr: mr.Addr()})
		t.Cleanup(func() { _ = rdb.Close() })
		return rdb, "t:"
	}},
	{"redis", func(t *testing.T) (goredis.UniversalClient, string) { return testenv.Redis(t) }},
}

// realRedis is the real-Redis backend, for the tests that need true concurrency or the script cache.
func realRedis(t *testing.T) fixture { return newFixture(t, backends[1]) }

type fixture struct {
	t   *testing.T
	rdb goredis.UniversalClient
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
	keys, err := testenv.Keys(ctx, f.rdb, f.ns)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, key := range keys {
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
		if i := strings.Index(key, ":batch:"); i >= 0 {
			// A batch's answers are kept under a fresh name per batch: a partition's are listed together.
			key = key[:i] + ":batch:*"
			answers, _ := out[key].([]string)
			answers = append(answers, v.(string))
			slices.Sort(answers)
			v = answers
		}
		out[key] = v
	}
	return out
}

// batchKeys are the keys the fixture's reservations kept batches' answers in.
func (f fixture) batchKeys() []string {
	f.t.Helper()
	keys, err := testenv.Keys(f.t.Context(), f.rdb, f.ns)
	if err != nil {
		f.t.Fatal(err)
	}
	var found []string
	for _, k := range keys {
		if strings.Contains(k, ":batch:") {
			found = append(found, k)
		}
	}
	return found
}
