package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/learecordshop/recordshop/biz/model"
	rsredis "github.com/learecordshop/recordshop/dal/redis"
	"github.com/learecordshop/recordshop/dal/testenv"
)

// BenchmarkReserve measures one reservation through Gate.Reserve against a real Redis: one EVALSHA of
// reserve.lua that takes a unit, counts it for the customer, records the idempotency answer and appends the
// order to the partition stream. Every iteration is a new order of a new customer with its own key.
func BenchmarkReserve(b *testing.B) {
	rdb, prefix := testenv.Redis(b)
	ctx := context.Background()
	gate := rsredis.NewGate(rdb, rsredis.Keys{Namespace: prefix, Partitions: 16})
	if _, err := gate.Load(ctx, rsredis.DiscState{ID: 7, Version: 1, Avail: 1 << 40, PriceCents: 4990, Active: true}, nil); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var i int64
	for b.Loop() {
		i++
		id, err := uuid.NewV7()
		if err != nil {
			b.Fatal(err)
		}
		o := model.Order{ID: id, CustomerID: i, DiscID: 7, Quantity: 1, ReservedAt: time.Now(), IdempotencyKey: "k" + id.String()[:8]}
		res, err := gate.Reserve(ctx, rsredis.Reservation{Order: o, Fingerprint: "f", IdemTTL: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		if res.Code != rsredis.Reserved {
			b.Fatalf("reserve answered %d", res.Code)
		}
	}
}
