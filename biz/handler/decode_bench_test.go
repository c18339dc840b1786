package handler

import (
	"testing"

	"github.com/cloudwego/hertz/pkg/app"

	"github.com/learecordshop/recordshop/biz/model"
)

// BenchmarkOrderDecodeValidate measures what POST /v1/orders does before it reaches Redis: strict JSON decode
// of the body, the field rules and the Idempotency-Key check.
func BenchmarkOrderDecodeValidate(b *testing.B) {
	body := []byte(`{"customer_id":123456,"disc_id":42,"quantity":1}`)
	c := app.NewContext(0)
	c.Request.Header.SetContentTypeBytes([]byte("application/json"))
	c.Request.Header.Set("Idempotency-Key", "checkout-7f3a-123456")
	c.Request.SetBody(body)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var in model.OrderCreate
		key := string(c.GetHeader("Idempotency-Key"))
		if err := bind(c, &in, func() error {
			if err := in.Validate(); err != nil {
				return err
			}
			return model.ValidateIdempotencyKey(key)
		}); err != nil {
			b.Fatal(err)
		}
	}
}
