package problem

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/cloudwego/hertz/pkg/app"
	"github.com/google/go-cmp/cmp"

	"github.com/learecordshop/recordshop/biz/model"
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

// referenceEncode is what Encode must write: encoding/json with HTML escaping off for the struct, then the
// extra members in key order, each the same way.
func referenceEncode(p *Problem) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(p)
	if len(p.Extra) == 0 {
		return buf.Bytes()
	}
	marshal := func(v any) ([]byte, error) {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		err := enc.Encode(v)
		return bytes.TrimSuffix(b.Bytes(), []byte("\n")), err
	}
	out := bytes.TrimSuffix(buf.Bytes(), []byte("}\n"))
	for _, k := range slices.Sorted(maps.Keys(p.Extra)) {
		v, err := marshal(p.Extra[k])
		if err != nil {
			continue
		}
		key, _ := marshal(k)
		out = append(append(append(append(out, ','), key...), ':'), v...)
	}
	return append(out, '}', '\n')
}

// TestEncodeIsEncodingJSON: every kind of member, and strings with each character JSON escapes.
func TestEncodeIsEncodingJSON(t *testing.T) {
	odd := "q\"b\\s/<>&\b\f\n\r\t\x00\x1f\x7f é \u2028\u2029 \xff\xc3 😀"
	problems := []*Problem{
		New(404, "not-found", "Not found", ""),
		{Type: TypePrefix + "sold-out", Title: "Sold out", Status: 409, Detail: "Only 0 left.", Instance: "/v1/orders",
			Extra: map[string]any{"units_left": int64(0)}},
		{Type: odd, Title: odd, Status: 422, Detail: odd, Instance: odd,
			Errors: []model.FieldError{{Field: odd, Detail: odd}, {Field: "quantity", Detail: "must be 1 or more"}},
			Extra:  map[string]any{"stock": int64(-3), "max_stock": 10_000_000, "starts_at": odd, odd: true, "at": time.Unix(0, 0).UTC(), "none": nil}},
		{Type: "", Title: "", Status: 0, Errors: []model.FieldError{}, Extra: map[string]any{}},
		{Type: "x", Title: "y", Status: 500, Extra: map[string]any{"bad": func() {}, "ok": "kept"}},
	}
	for i, p := range problems {
		if got, want := string(Encode(p)), string(referenceEncode(p)); got != want {
			t.Errorf("problem %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

// FuzzEncode holds Encode to encoding/json for any strings in any member.
func FuzzEncode(f *testing.F) {
	f.Add("urn:recordshop:problem:sold-out", "Sold out", "Only 0 left.", "/v1/orders", "customer_id", int64(0))
	f.Add("a\"\\\n\x01\u2028\xff", "é😀", "<&>", "\t", "\x7f\xc3", int64(-1))
	f.Fuzz(func(t *testing.T, kind, title, detail, instance, field string, n int64) {
		p := &Problem{Type: kind, Title: title, Status: 409, Detail: detail, Instance: instance,
			Errors: []model.FieldError{{Field: field, Detail: detail}},
			Extra:  map[string]any{field: n, title: detail, "units_left": n}}
		if got, want := string(Encode(p)), string(referenceEncode(p)); got != want {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
	})
}

// TestSoldOutBodyIsReusedOnlyForItsInstance: the sold-out answer with no units left is encoded once per
// request path, and every answer, reused or not, is the body of that problem for that path.
func TestSoldOutBodyIsReusedOnlyForItsInstance(t *testing.T) {
	write := func(path string, err error) string {
		c := app.NewContext(0)
		c.Request.SetRequestURI(path)
		Write(c, From(err))
		return string(c.Response.Body())
	}
	want := func(path string, left int64) string {
		p := soldOutProblem(left)
		p.Instance = path
		return string(Encode(p))
	}
	for i, step := range []struct {
		path string
		left int64
	}{{"/v1/orders", 0}, {"/v1/orders", 0}, {"/v1/other", 0}, {"/v1/orders", 2}, {"/v1/orders", 0}, {"/v1/other", 0}} {
		if got := write(step.path, &model.SoldOutError{Left: step.left}); got != want(step.path, step.left) {
			t.Errorf("answer %d (%s, %d left): %s; want %s", i, step.path, step.left, got, want(step.path, step.left))
		}
	}
	if noneLeft.Instance != "" || noneLeft.memo {
		t.Errorf("the shared sold-out problem was changed: instance %q, memo %v", noneLeft.Instance, noneLeft.memo)
	}
}
