package handler

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/biz/problem"
)

// fuzzNow is the clock of the fuzz targets: Validate compares birth dates and sale starts with it.
var fuzzNow = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// fuzzBody returns, for a fuzzed byte, one of the API's request bodies to decode into, its rule, and what the
// handler goes on to write back as JSON once the rule passed (the parsed sale start, which the body type keeps
// out of its own JSON, included).
func fuzzBody(kind byte) (dst any, validate func() error, out func() any) {
	switch kind % 6 {
	case 0:
		var v model.CustomerCreate
		return &v, func() error { return v.Validate(fuzzNow) }, func() any { return v }
	case 1:
		var v model.CustomerPatch
		return &v, func() error { return v.Validate(fuzzNow) }, func() any { return v }
	case 2:
		var v model.DiscCreate
		return &v, func() error { return v.Validate(fuzzNow) }, func() any { return []any{v, v.StartsAt} }
	case 3:
		var v model.DiscPatch
		return &v, v.Validate, func() any { return []any{v, v.StartsAt} }
	case 4:
		var v model.Restock
		return &v, v.Validate, func() any { return v }
	default:
		var v model.OrderCreate
		return &v, v.Validate, func() any { return v }
	}
}

// FuzzDecodeBody feeds any bytes to the strict body decoder, as every POST and PATCH does. It must never
// panic and must answer every refusal with a 4xx; what it accepts must be one JSON object of known keys, each
// once, spelled exactly (no null in a patch); and what then passes the body's rule must write back as JSON (a
// time that cannot be written would turn every later read of the record into a 500).
func FuzzDecodeBody(f *testing.F) {
	f.Add(byte(5), false, []byte(`{"customer_id":1,"disc_id":2,"quantity":3}`))
	f.Add(byte(2), false, []byte(`{"name":"Kind of Blue","artist":"Miles Davis","release_year":1959,"style":"jazz","price_cents":4990,"stock":10,"sale_starts_at":"9999-12-31T23:59:59-05:00"}`))
	f.Add(byte(3), true, []byte(`{"sale_starts_at":"0000-01-01T00:30:00+01:00"}`))
	f.Add(byte(1), true, []byte(`{"email":null}`))
	f.Add(byte(4), false, []byte(`{"delta":9223372036854775808}`))
	f.Add(byte(0), false, []byte(`{"name":"\ud800","name":"x"}`))
	f.Add(byte(2), false, append([]byte(`{"name":"`), append(bytes.Repeat([]byte("a"), MaxBodyBytes), `"}`...)...))
	f.Add(byte(3), true, []byte(`{"name":`+strings.Repeat("[", 20_000)+strings.Repeat("]", 20_000)+`}`))
	f.Fuzz(func(t *testing.T, kind byte, patch bool, body []byte) {
		dst, validate, out := fuzzBody(kind)
		if err := decodeBody(body, dst, patch); err != nil {
			var (
				p *problem.Problem
				v *model.ValidationError
			)
			if !errors.As(err, &p) && !errors.As(err, &v) {
				t.Fatalf("decodeBody(%T) refused with %T %v; want a *problem.Problem or *model.ValidationError", dst, err, err)
			}
			if status := problem.From(err).Status; status < 400 || status > 499 {
				t.Fatalf("decodeBody(%T) refused with status %d (%v); want 4xx", dst, status, err)
			}
			return
		}
		if !utf8.Valid(body) || !json.Valid(body) {
			t.Fatalf("decodeBody(%T) accepted a body that is not valid UTF-8 JSON: %q", dst, body)
		}
		known := jsonFieldNames(t, dst)
		keys, values := topLevelMembers(t, body)
		for i, key := range keys {
			switch {
			case !slices.Contains(known, key):
				t.Fatalf("decodeBody(%T) accepted key %q, which is not one of %q: %q", dst, key, known, body)
			case slices.Contains(keys[:i], key):
				t.Fatalf("decodeBody(%T) accepted key %q given twice: %q", dst, key, body)
			case patch && string(values[i]) == "null":
				t.Fatalf("decodeBody(%T) accepted null for %q in a patch: %q", dst, key, body)
			}
		}
		if err := validate(); err != nil {
			var v *model.ValidationError
			if !errors.As(err, &v) || v.In != "body" {
				t.Fatalf("%T.Validate refused with %T %v; want a *model.ValidationError in body", dst, err, err)
			}
			return
		}
		if _, err := json.Marshal(out()); err != nil {
			t.Fatalf("%T from %q passed Validate but cannot be written back as JSON: %v", dst, body, err)
		}
	})
}

// FuzzObjectKeys checks the hand-written key scanner against encoding/json on any valid JSON: the same
// top-level keys, in order, with the same values. exactKeys relies on it to see every key the decoder saw.
func FuzzObjectKeys(f *testing.F) {
	f.Add([]byte(`{"a":"x,y}]","b":"say \"hi\", {ok}","c":[1,{"d":null}],"e":-0}`))
	f.Add([]byte(`{"\u0071uantity":1,"na\"me":"x","back\\slash":2,"\ud800":3}`))
	f.Add([]byte(" {\"a\" :\t1e400 ,\r\n\"a\":{}} "))
	f.Fuzz(func(t *testing.T, body []byte) {
		if !utf8.Valid(body) || !json.Valid(body) {
			return // objectKeys reads only what decodeBody has already accepted
		}
		var keys []string
		var values [][]byte
		if err := objectKeys(body, func(key string, value []byte) error {
			keys, values = append(keys, key), append(values, value)
			return nil
		}); err != nil {
			t.Fatalf("objectKeys(%q) = %v; want nil (fn never fails)", body, err)
		}
		wantKeys, wantValues := topLevelMembers(t, body)
		if !slices.Equal(keys, wantKeys) {
			t.Fatalf("objectKeys(%q) keys = %q; want %q", body, keys, wantKeys)
		}
		for i := range keys {
			var got, want bytes.Buffer
			if err := json.Compact(&got, values[i]); err != nil {
				t.Fatalf("objectKeys(%q): value of %q is %q, not JSON: %v", body, keys[i], values[i], err)
			}
			_ = json.Compact(&want, wantValues[i]) // encoding/json produced it
			if got.String() != want.String() {
				t.Fatalf("objectKeys(%q): value of %q = %s; want %s", body, keys[i], got.String(), want.String())
			}
		}
	})
}

// topLevelMembers lists the keys and raw values of the JSON object body holds, in order and with repeats, as
// encoding/json's tokenizer reads them; a body that is not an object has none. body must be valid JSON.
func topLevelMembers(t *testing.T, body []byte) (keys []string, values []json.RawMessage) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("reading a key of %q: %v", body, err)
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			t.Fatalf("reading the value of %q in %q: %v", tok, body, err)
		}
		keys, values = append(keys, tok.(string)), append(values, value)
	}
	return keys, values
}

// jsonFieldNames is encoding/json's own view of the names a body type has: the keys it writes for dst (no body
// field is omitempty, so every field shows whatever its value).
func jsonFieldNames(t *testing.T, dst any) []string {
	t.Helper()
	zero, err := json.Marshal(dst)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(zero, &m); err != nil {
		t.Fatalf("%T does not write a JSON object: %v", dst, err)
	}
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	return names
}
