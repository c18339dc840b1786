package handler

import (
	"testing"

	"github.com/learecordshop/recordshop/biz/model"
)

// FuzzOrderFastPath holds the order body's fast path to the strict decoder: whatever the fast path accepts, the
// strict decoder accepts as the same order; what it leaves, the strict decoder answers as before.
func FuzzOrderFastPath(f *testing.F) {
	for _, b := range []string{
		`{"customer_id":1,"disc_id":2,"quantity":3}`,
		` { "quantity" : 1 , "disc_id":7,"customer_id":-0 } `,
		`{}`, `{"customer_id":1,"customer_id":2}`, `{"customer_id":01}`, `{"customer_id":1.0}`, `{"customer_id":1e3}`,
		`{"customer_id":123456789012345678}`, `{"customer_id":1234567890123456789}`, `{"Customer_id":1}`,
		`{"customer_id":1}x`, `{"customer_id":"1"}`, `{"customer_id":1,}`, `{"customer_\u0069d":1}`,
	} {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var fast model.OrderCreate
		if !decodeOrderCreate(body, &fast) {
			return
		}
		var strict model.OrderCreate
		if err := decodeBody(body, &strict, false); err != nil {
			t.Fatalf("the fast path took %q as %+v; the strict decoder refuses it: %v", body, fast, err)
		}
		if fast != strict {
			t.Fatalf("%q: the fast path read %+v, the strict decoder %+v", body, fast, strict)
		}
	})
}

// TestOrderFastPathTakesTheLaunchBody: the body a storefront sends is read by the fast path, so the benchmark
// of the order path measures it.
func TestOrderFastPathTakesTheLaunchBody(t *testing.T) {
	var o model.OrderCreate
	if !decodeOrderCreate([]byte(`{"customer_id":42,"disc_id":7,"quantity":2}`), &o) || o != (model.OrderCreate{CustomerID: 42, DiscID: 7, Quantity: 2}) {
		t.Fatalf("read %+v", o)
	}
	for _, b := range []string{`{"customer_id":1,"customer_id":2}`, `{"customer_id":01}`, `{"customer_id":1}x`, `{"quantity":1.5}`, `[]`} {
		if decodeOrderCreate([]byte(b), &o) {
			t.Errorf("the fast path took %q; it must leave it to the strict decoder", b)
		}
	}
}
