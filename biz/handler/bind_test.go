package handler

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"testing"
)

// tokenKeys is the slow, obviously right way to list an object's top-level keys: encoding/json's tokens.
func tokenKeys(t *testing.T, body []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		t.Fatal(err)
	}
	if tok != json.Delim('{') {
		return nil
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func TestObjectKeysMatchesEncodingJSON(t *testing.T) {
	bodies := []string{
		`{}`,
		` { } `,
		`null`,
		`[1,{"a":2}]`,
		`"just a string"`,
		`{"customer_id":1,"disc_id":2,"quantity":3}`,
		"{\n\t\"a\" : 1 ,\r\n \"b\":\t-2.5e3 }",
		`{"a":"x,y}]","b":"say \"hi\", {ok}","c":true,"d":null,"e":false}`,
		`{"nested":{"a":{"b":[1,2,{"c":"}"}]}},"after":1}`,
		`{"arr":[[],[[]],{}],"s":"\\","t":"\\\"","u":1}`,
		`{"\u0071uantity":1,"na\"me":"x","back\\slash":2}`,
		`{"é":1,"日本":"語"}`,
		`{"a":{},"b":[],"c":""}`,
	}
	for _, body := range bodies {
		if !json.Valid([]byte(body)) {
			t.Fatalf("test body is not valid JSON: %s", body)
		}
		var got []string
		values := map[string]json.RawMessage{}
		if err := objectKeys([]byte(body), func(k string, v []byte) error {
			got = append(got, k)
			values[k] = v
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if want := tokenKeys(t, []byte(body)); !slices.Equal(got, want) {
			t.Errorf("objectKeys(%s) = %q; want %q", body, got, want)
		}
		var want map[string]json.RawMessage
		if json.Unmarshal([]byte(body), &want) != nil {
			continue // not an object: no keys, no values
		}
		for k, w := range want {
			if compact(t, values[k]) != compact(t, w) {
				t.Errorf("objectKeys(%s): value of %q = %s; want %s", body, k, values[k], w)
			}
		}
	}
}

func TestObjectKeysStopsAtTheFirstError(t *testing.T) {
	stop := errors.New("stop")
	var seen []string
	err := objectKeys([]byte(`{"a":1,"B":2,"c":3}`), func(k string, _ []byte) error {
		seen = append(seen, k)
		if k == "B" {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || !slices.Equal(seen, []string{"a", "B"}) {
		t.Fatalf("err %v, keys seen %q; want stop after a, B", err, seen)
	}
}

func compact(t *testing.T, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatalf("value %q is not JSON: %v", b, err)
	}
	return buf.String()
}
