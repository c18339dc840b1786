package service_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/learecordshop/recordshop/biz/model"
)

// BenchmarkWriterBatchBuild measures how the writer turns one full batch of stream entries (500, the default
// RS_WRITER_BATCH) into orders. The writer has no separate function for it (it is inside flush), so this runs
// the same steps: take the record field, model.ParseRecord, set the stream position.
func BenchmarkWriterBatchBuild(b *testing.B) {
	const size = 500
	msgs := make([]goredis.XMessage, size)
	now := time.Now()
	for i := range msgs {
		o := model.Order{ID: uuid.Must(uuid.NewV7()), CustomerID: int64(100000 + i), DiscID: 42, Quantity: 1,
			UnitPriceCents: 4990, ReservedAt: now, IdempotencyKey: fmt.Sprintf("checkout-%d", i)}
		msgs[i] = goredis.XMessage{ID: fmt.Sprintf("%d-%d", now.UnixMilli(), i), Values: map[string]any{"o": o.Record()}}
	}
	b.ReportAllocs()
	for b.Loop() {
		batch := make([]model.Order, 0, size)
		for _, e := range msgs {
			rec, _ := e.Values["o"].(string)
			o, err := model.ParseRecord(rec)
			if err != nil {
				b.Fatal(err)
			}
			o.StreamPartition, o.StreamID = 10, e.ID
			batch = append(batch, o)
		}
		if len(batch) != size {
			b.Fatal("short batch")
		}
	}
}
