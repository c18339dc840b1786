package service_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/biz/service"
	rsredis "github.com/learecordshop/recordshop/dal/redis"
)

// fakeGate is reserve.lua's side of the Redis gate: it answers res (or err) and records what it was asked.
type fakeGate struct {
	res      rsredis.ReserveResult
	err      error
	asked    []rsredis.Reservation
	deadline bool // the last call had a deadline
	pending  map[string]model.Order
}

func (g *fakeGate) Reserve(ctx context.Context, r rsredis.Reservation) (rsredis.ReserveResult, error) {
	g.asked = append(g.asked, r)
	_, g.deadline = ctx.Deadline()
	return g.res, g.err
}

func (g *fakeGate) Answered(context.Context, rsredis.Reservation) (rsredis.ReserveResult, bool, error) {
	return rsredis.ReserveResult{}, false, nil
}

func (g *fakeGate) PendingOrder(ctx context.Context, id string) (model.Order, bool, error) {
	_, g.deadline = ctx.Deadline()
	o, ok := g.pending[id]
	return o, ok, nil
}

// fakeCustomers is Postgres' customers, counting the look-ups.
type fakeCustomers struct {
	known   map[int64]bool
	lookups int
}

func (c *fakeCustomers) Get(_ context.Context, id int64) (model.Customer, error) {
	c.lookups++
	if !c.known[id] {
		return model.Customer{}, fmt.Errorf("customers.get: %w", model.ErrNotFound)
	}
	return model.Customer{ID: id}, nil
}

// fakeOrders is Postgres' orders.
type fakeOrders struct {
	orders  map[uuid.UUID]model.Order
	changed bool // what Cancel answers
}

func (s *fakeOrders) Get(_ context.Context, id uuid.UUID) (model.Order, error) {
	if o, ok := s.orders[id]; ok {
		return o, nil
	}
	return model.Order{}, model.ErrNotFound
}

func (s *fakeOrders) List(context.Context, model.OrderQuery) (model.List[model.Order], error) {
	return model.List[model.Order]{}, nil
}

func (s *fakeOrders) Cancel(ctx context.Context, id uuid.UUID) (model.Order, bool, error) {
	o, err := s.Get(ctx, id)
	return o, s.changed && err == nil, err
}

// syncs records the discs whose stock changes were carried to the live count.
type syncs []int64

func (s *syncs) Sync(_ context.Context, discID int64) error { *s = append(*s, discID); return nil }

const buyer = 7

var orderCfg = service.OrderConfig{IdempotencyTTL: time.Hour, MaxBacklog: 50, RedisTimeout: time.Second}

func redisOrders(gate *fakeGate, customers *fakeCustomers, store *fakeOrders, synced *syncs) *service.Orders {
	return service.NewOrders(store, service.NewRedisReserver(gate, customers, nil, orderCfg), synced, orderCfg, time.Now)
}

// sameError: a sentinel is matched with errors.Is, a refusal that carries values by its type and values.
func sameError(got, want error) bool {
	if got == nil || want == nil {
		return got == want
	}
	return errors.Is(got, want) || reflect.TypeOf(got) == reflect.TypeOf(want) && cmp.Equal(got, want)
}

// TestPlaceAnswersEachReserveCode: every answer of reserve.lua becomes the order or the refusal the buyer is
// told (the handler maps each refusal to its status).
func TestPlaceAnswersEachReserveCode(t *testing.T) {
	confirmed := model.Order{ID: uuid.Must(uuid.NewV7()), CustomerID: buyer, DiscID: 3, Quantity: 2, Status: model.StatusConfirmed}
	starts := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	lost := fmt.Errorf("redis.reserve: %w: i/o timeout", model.ErrOutcomeUnknown)
	tests := []struct {
		name     string
		res      rsredis.ReserveResult
		err      error
		want     model.Order
		replayed bool
		wantErr  error
	}{
		{name: "reserved", res: rsredis.ReserveResult{Code: rsredis.Reserved, Order: confirmed}, want: confirmed},
		{name: "replayed", res: rsredis.ReserveResult{Code: rsredis.Replayed, Order: confirmed}, want: confirmed, replayed: true},
		{name: "sold out", res: rsredis.ReserveResult{Code: rsredis.SoldOut, Value: 1}, wantErr: &model.SoldOutError{Left: 1}},
		{name: "over limit", res: rsredis.ReserveResult{Code: rsredis.OverLimit, Value: 2}, wantErr: &model.LimitError{Left: 2}},
		{name: "not started", res: rsredis.ReserveResult{Code: rsredis.NotStarted, Value: starts.UnixMilli()},
			wantErr: &model.NotStartedError{StartsAt: starts}},
		{name: "inactive", res: rsredis.ReserveResult{Code: rsredis.Inactive}, wantErr: model.ErrCustomerInactive},
		{name: "no disc", res: rsredis.ReserveResult{Code: rsredis.NoDisc}, wantErr: model.ErrUnknownDisc},
		{name: "key reused", res: rsredis.ReserveResult{Code: rsredis.KeyReused}, wantErr: model.ErrKeyReused},
		{name: "backlog", res: rsredis.ReserveResult{Code: rsredis.Backlog, Value: 51}, wantErr: &model.BacklogError{RetryAfter: time.Second}},
		{name: "no answer", err: lost, wantErr: model.ErrOutcomeUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gate := &fakeGate{res: tt.res, err: tt.err}
			orders := redisOrders(gate, &fakeCustomers{known: map[int64]bool{buyer: true}}, &fakeOrders{}, new(syncs))
			got, replayed, err := orders.Place(context.Background(), model.OrderCreate{CustomerID: buyer, DiscID: 3, Quantity: 2}, "")
			if !sameError(err, tt.wantErr) {
				t.Fatalf("err = %v; want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" || replayed != tt.replayed {
				t.Fatalf("replayed = %t (want %t), order (-want +got):\n%s", replayed, tt.replayed, diff)
			}
		})
	}
	t.Run("unknown code", func(t *testing.T) {
		gate := &fakeGate{res: rsredis.ReserveResult{Code: 99}}
		orders := redisOrders(gate, &fakeCustomers{known: map[int64]bool{buyer: true}}, &fakeOrders{}, new(syncs))
		if _, _, err := orders.Place(context.Background(), model.OrderCreate{CustomerID: buyer, DiscID: 3, Quantity: 1}, ""); err == nil {
			t.Fatal("an answer reserve.lua does not give was taken for a success")
		}
	})
}

// TestPlaceAsksRedisOnce checks what one order sends to Redis, with and without an Idempotency-Key: one
// reservation, bounded by the Redis timeout, carrying the request's identity for replays.
func TestPlaceAsksRedisOnce(t *testing.T) {
	for _, tt := range []struct{ key, fingerprint string }{{"", ""}, {"k-1", "7:3:2"}} {
		t.Run("key="+tt.key, func(t *testing.T) {
			gate := &fakeGate{res: rsredis.ReserveResult{Code: rsredis.Reserved}}
			orders := redisOrders(gate, &fakeCustomers{known: map[int64]bool{buyer: true}}, &fakeOrders{}, new(syncs))
			if _, _, err := orders.Place(context.Background(), model.OrderCreate{CustomerID: buyer, DiscID: 3, Quantity: 2}, tt.key); err != nil {
				t.Fatal(err)
			}
			if len(gate.asked) != 1 {
				t.Fatalf("%d reservations for one order; want 1", len(gate.asked))
			}
			r := gate.asked[0]
			o := r.Order
			if o.CustomerID != buyer || o.DiscID != 3 || o.Quantity != 2 || o.IdempotencyKey != tt.key || o.ID.Version() != 7 ||
				o.Status != model.StatusConfirmed || o.ReservedAt.IsZero() {
				t.Fatalf("reserved order = %+v", o)
			}
			if r.Fingerprint != tt.fingerprint || r.IdemTTL != orderCfg.IdempotencyTTL || r.MaxBacklog != orderCfg.MaxBacklog {
				t.Fatalf("reservation = %+v; want fingerprint %q, the configured TTL and backlog", r, tt.fingerprint)
			}
			if !gate.deadline {
				t.Fatal("the reservation ran without the Redis timeout")
			}
		})
	}
}

// TestPlaceLooksACustomerUpOnce: in Redis mode a customer's existence costs one Postgres look-up per process,
// none once the cache is warm, and an unknown customer never reaches Redis.
func TestPlaceLooksACustomerUpOnce(t *testing.T) {
	ctx := context.Background()
	buy := model.OrderCreate{CustomerID: buyer, DiscID: 3, Quantity: 1}

	gate := &fakeGate{res: rsredis.ReserveResult{Code: rsredis.Reserved}}
	customers := &fakeCustomers{known: map[int64]bool{}}
	orders := redisOrders(gate, customers, &fakeOrders{}, new(syncs))
	if _, _, err := orders.Place(ctx, buy, ""); !errors.Is(err, model.ErrUnknownCustomer) || len(gate.asked) != 0 {
		t.Fatalf("unknown customer: err = %v after %d reservations; want ErrUnknownCustomer and none", err, len(gate.asked))
	}
	customers.known[buyer], customers.lookups = true, 0
	for range 3 {
		if _, _, err := orders.Place(ctx, buy, ""); err != nil {
			t.Fatal(err)
		}
	}
	if customers.lookups != 1 {
		t.Fatalf("3 orders of one customer looked it up %d times; want 1", customers.lookups)
	}

	customers = &fakeCustomers{known: map[int64]bool{buyer: true}}
	reserver := service.NewRedisReserver(gate, customers, nil, orderCfg)
	if err := reserver.WarmCustomers(ctx, func(_ context.Context, each func(int64)) error { each(buyer); return nil }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := service.NewOrders(&fakeOrders{}, reserver, new(syncs), orderCfg, time.Now).Place(ctx, buy, ""); err != nil {
		t.Fatal(err)
	}
	if customers.lookups != 0 {
		t.Fatalf("a warmed customer was looked up %d times; want 0", customers.lookups)
	}
}

// placer is Postgres' whole order path, recording what it was given.
type placer struct {
	got model.Order
	ttl time.Duration
}

func (p *placer) PlaceDirect(_ context.Context, o model.Order, ttl time.Duration) (model.Order, bool, error) {
	p.got, p.ttl = o, ttl
	return o, false, nil
}

// TestPostgresModeIsOneTransaction: in Postgres mode an order is PlaceDirect alone, with no look-up before
// it, and a read finds orders in Postgres.
func TestPostgresModeIsOneTransaction(t *testing.T) {
	ctx := context.Background()
	p := &placer{}
	store := &fakeOrders{orders: map[uuid.UUID]model.Order{}}
	orders := service.NewOrders(store, service.NewPostgresReserver(p, time.Hour), new(syncs), orderCfg, time.Now)
	o, replayed, err := orders.Place(ctx, model.OrderCreate{CustomerID: buyer, DiscID: 3, Quantity: 2}, "k")
	if err != nil || replayed || o.ID != p.got.ID || p.got.IdempotencyKey != "k" || p.ttl != time.Hour {
		t.Fatalf("Place = %+v, %t, %v; PlaceDirect got %+v, ttl %v", o, replayed, err, p.got, p.ttl)
	}
	store.orders[o.ID] = o
	if got, err := orders.Get(ctx, o.ID); err != nil || got.ID != o.ID {
		t.Fatalf("Get = %+v, %v; want the order from Postgres", got, err)
	}
}

// TestGetFindsAnUnflushedOrder: an order confirmed in Redis is found before it reaches Postgres.
func TestGetFindsAnUnflushedOrder(t *testing.T) {
	ctx := context.Background()
	pending := model.Order{ID: uuid.Must(uuid.NewV7()), CustomerID: buyer}
	stored := model.Order{ID: uuid.Must(uuid.NewV7()), CustomerID: buyer, Persisted: true}
	gate := &fakeGate{pending: map[string]model.Order{pending.ID.String(): pending}}
	orders := redisOrders(gate, &fakeCustomers{}, &fakeOrders{orders: map[uuid.UUID]model.Order{stored.ID: stored}}, new(syncs))
	for _, want := range []model.Order{pending, stored} {
		got, err := orders.Get(ctx, want.ID)
		if err != nil || !cmp.Equal(got, want) {
			t.Fatalf("Get(%s) = %+v, %v; want %+v", want.ID, got, err, want)
		}
	}
	if _, err := orders.Get(ctx, uuid.Must(uuid.NewV7())); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("Get(unknown) err = %v; want ErrNotFound", err)
	}
}

// TestCancelGivesUnitsBackToTheLiveCount: a cancel that changed an order carries its units to the count
// that sells at once; a repeated cancel changes nothing.
func TestCancelGivesUnitsBackToTheLiveCount(t *testing.T) {
	for _, changed := range []bool{true, false} {
		t.Run(fmt.Sprint("changed=", changed), func(t *testing.T) {
			o := model.Order{ID: uuid.Must(uuid.NewV7()), CustomerID: buyer, DiscID: 5}
			synced := new(syncs)
			store := &fakeOrders{orders: map[uuid.UUID]model.Order{o.ID: o}, changed: changed}
			if _, err := redisOrders(&fakeGate{}, &fakeCustomers{}, store, synced).Cancel(context.Background(), o.ID); err != nil {
				t.Fatal(err)
			}
			want := syncs(nil)
			if changed {
				want = syncs{5}
			}
			if diff := cmp.Diff(want, *synced); diff != "" {
				t.Fatalf("discs synced (-want +got):\n%s", diff)
			}
		})
	}
}
