package problem

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestEncodeWritesExtraMembersBesideTheStandardOnes: a problem with extra members is one JSON object with the
// standard members and the extra ones, whatever their order, and one without is the plain struct.
func TestEncodeWritesExtraMembersBesideTheStandardOnes(t *testing.T) {
	p := New(409, "sold-out", "Sold out", "No units of this disc are left.")
	p.Instance = "/v1/orders"
	p.Extra = map[string]any{"units_left": int64(0), "starts_at": "2026-12-01T10:00:00Z"}
	var got map[string]any
	if err := json.Unmarshal(Encode(p), &got); err != nil {
		t.Fatalf("not one JSON object: %v: %s", err, Encode(p))
	}
	want := map[string]any{"type": TypePrefix + "sold-out", "title": "Sold out", "status": float64(409),
		"detail": "No units of this disc are left.", "instance": "/v1/orders", "units_left": float64(0),
		"starts_at": "2026-12-01T10:00:00Z"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	plain := New(404, "not-found", "Not found", "")
	if string(Encode(plain)) != `{"type":"`+TypePrefix+`not-found","title":"Not found","status":404}`+"\n" {
		t.Errorf("plain body %s", Encode(plain))
	}
}
