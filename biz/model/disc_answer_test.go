package model_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/learecordshop/recordshop/biz/model"
)

// TestDiscAnswerWritesAvailability: a disc is answered with its live count and "availability": "live", or,
// when the count is unknown, with "available": null whatever the Go value holds; every other member is the
// disc's own. What the API writes reads back into a Disc.
func TestDiscAnswerWritesAvailability(t *testing.T) {
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	disc := model.Disc{ID: 7, Name: "We are Reactive", Artist: "Hohpe", ReleaseYear: 2026, Style: "Jazz",
		PriceCents: 4990, Stock: 500, Available: 120, StockVersion: 3, SaleStartsAt: at, PerCustomerLimit: 2,
		CreatedAt: at, UpdatedAt: at}
	unknown := disc
	unknown.Availability = model.AvailabilityUnknown // Available still holds Postgres' stock, never written
	unknown.Available = 500
	base := map[string]any{"id": 7.0, "name": "We are Reactive", "artist": "Hohpe", "release_year": 2026.0,
		"style": "Jazz", "price_cents": 4990.0, "stock": 500.0, "sale_starts_at": "2026-12-01T12:00:00Z",
		"per_customer_limit": 2.0, "archived": false, "created_at": "2026-12-01T12:00:00Z",
		"updated_at": "2026-12-01T12:00:00Z"}
	with := func(avail any, availability string) map[string]any {
		m := map[string]any{"available": avail, "availability": availability}
		for k, v := range base {
			m[k] = v
		}
		return m
	}
	for _, tt := range []struct {
		name string
		disc model.Disc
		want map[string]any
		back model.Disc // what a client decodes
	}{
		{"live", disc, with(120.0, "live"), withoutVersion(disc)},
		{"unknown", unknown, with(nil, "unknown"), withAvailable(withoutVersion(unknown), 0)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			one, err := json.Marshal(tt.disc.Answer())
			if err != nil {
				t.Fatal(err)
			}
			page, err := json.Marshal(model.AnswerDiscs(model.List[model.Disc]{Items: []model.Disc{tt.disc}}))
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			var list struct{ Items []map[string]any }
			if err := json.Unmarshal(one, &got); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(page, &list); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("one disc (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]map[string]any{tt.want}, list.Items); diff != "" {
				t.Errorf("a page of discs (-want +got):\n%s", diff)
			}
			var back model.Disc
			if err := json.Unmarshal(one, &back); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.back, back); diff != "" {
				t.Errorf("read back (-want +got):\n%s", diff)
			}
		})
	}
	var bad model.Disc
	if err := json.Unmarshal([]byte(`{"availability": "maybe"}`), &bad); err == nil {
		t.Error(`availability "maybe" was read`)
	}
}

func withoutVersion(d model.Disc) model.Disc { d.StockVersion = 0; return d }

func withAvailable(d model.Disc, n int64) model.Disc { d.Available = n; return d }
