package redis_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/learecordshop/recordshop/biz/model"
	rsredis "github.com/learecordshop/recordshop/dal/redis"
)

// TestRecordRoundTrip: an order written as its record reads back as the same confirmed order, and a record that
// breaks the format is refused rather than read as something else.
func TestRecordRoundTrip(t *testing.T) {
	o := model.Order{ID: uuid.MustParse("0190d3f0-0000-7000-8000-000000000001"), CustomerID: buyer, DiscID: discID,
		Quantity: 3, UnitPriceCents: priceCents, ReservedAt: now, IdempotencyKey: "checkout:1|2"}
	rec := rsredis.Record(o)
	if want := "0190d3f0-0000-7000-8000-000000000001|42|7|3|2599|1767225600123|checkout:1|2"; rec != want {
		t.Fatalf("record %q, want %q (reserve.lua writes this format)", rec, want)
	}
	got, err := rsredis.ParseRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	o.Status, o.TotalCents = model.StatusConfirmed, 3*priceCents
	if diff := cmp.Diff(o, got); diff != "" {
		t.Fatalf("read back (-want +got):\n%s", diff)
	}

	for _, bad := range []string{
		"",
		"junk",
		strings.Replace(rec, "|42|", "|x|", 1),
		strings.Replace(rec, "|42|", "|0|", 1),
		strings.Replace(rec, "|3|", "|-3|", 1),
		strings.Replace(rec, "|2599|", "|-1|", 1),
		strings.Replace(rec, "0190d3f0", "zz", 1),
		"0190d3f0-0000-7000-8000-000000000001|42|7|3|2599",
	} {
		if o, err := rsredis.ParseRecord(bad); err == nil {
			t.Errorf("record %q read as %+v; want an error", bad, o)
		}
	}
}

// FuzzParseRecord: whatever bytes a stream or pending record holds, reading them never panics, and an order read
// from them is written back as a record that reads as the same order.
func FuzzParseRecord(f *testing.F) {
	for _, seed := range []string{
		"0190d3f0-0000-7000-8000-000000000001|42|7|3|2599|1767225600123|checkout:1",
		"0190d3f0-0000-7000-8000-000000000001|42|7|1|0|0|",
		"0190d3f0-0000-7000-8000-000000000001|42|7|1|0|-1|a|b|c",
		"{0190d3f0-0000-7000-8000-000000000001}|+42|07|1|0|0|",
		"0190d3f0-0000-7000-8000-000000000001|42|7|0|2599|0|",
		"|||||||",
		"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := rsredis.ParseRecord(s)
		if err != nil {
			return
		}
		again, err := rsredis.ParseRecord(rsredis.Record(o))
		if err != nil {
			t.Fatalf("%q read as %+v, whose record %q does not read: %v", s, o, rsredis.Record(o), err)
		}
		if diff := cmp.Diff(o, again); diff != "" {
			t.Fatalf("%q: the record of what it read reads differently (-first +second):\n%s", s, diff)
		}
	})
}

// TestConfirmedIsWhatTheRecordSays holds the order a 201 answers (built from the request and the price
// reserve.lua returns) to the order the record in the stream, the pending hash and the idempotency answer
// reads back as: the two must never differ, or GET /v1/orders/{id} would contradict the 201.
func TestConfirmedIsWhatTheRecordSays(t *testing.T) {
	for _, key := range []string{"", "checkout-7f3a:1"} {
		o := model.Order{ID: uuid.Must(uuid.NewV7()), CustomerID: 42, DiscID: 7, Quantity: 3,
			ReservedAt: time.Date(2026, 12, 2, 1, 2, 3, 456789012, time.FixedZone("BRT", -3*3600)), IdempotencyKey: key}
		priced := o
		priced.UnitPriceCents = 4990
		want, err := rsredis.ParseRecord(rsredis.Record(priced))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, rsredis.Confirmed(o, 4990)); diff != "" {
			t.Errorf("key %q: Confirmed differs from the record (-record +confirmed):\n%s", key, diff)
		}
	}
}
