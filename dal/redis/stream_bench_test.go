package redis

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/learecordshop/recordshop/biz/model"
)

// BenchmarkWriterBatchBuild measures how one full batch of stream entries (500, the default RS_WRITER_BATCH)
// becomes the orders the writer inserts: take the record field, read the record, set the stream position. It
// lived in biz/service while the writer read raw stream messages; the reading is entries' job now.
func BenchmarkWriterBatchBuild(b *testing.B) {
	const size = 500
	msgs := make([]goredis.XMessage, size)
	now := time.Now()
	for i := range msgs {
		o := model.Order{ID: uuid.Must(uuid.NewV7()), CustomerID: int64(100000 + i), DiscID: 42, Quantity: 1,
			UnitPriceCents: 4990, ReservedAt: now, IdempotencyKey: fmt.Sprintf("checkout-%d", i)}
		msgs[i] = goredis.XMessage{ID: fmt.Sprintf("%d-%d", now.UnixMilli(), i), Values: map[string]any{"o": Record(o)}}
	}
	b.ReportAllocs()
	for b.Loop() {
		batch := entries(10, msgs)
		if len(batch) != size || batch[size-1].Err != nil {
			b.Fatal("short batch")
		}
	}
}
