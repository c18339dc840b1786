package handler

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/cloudwego/hertz/pkg/app"

	"github.com/learecordshop/recordshop/biz/edge"
	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/biz/problem"
)

// MaxBodyBytes bounds every request body (the transport refuses a larger one before reading it).
const MaxBodyBytes = edge.MaxBodyBytes

// jsonContentType reports whether a Content-Type names JSON: application/json or a +json type, with any
// parameters. The plain "application/json" of nearly every request is recognised without parsing.
func jsonContentType(ct []byte) bool {
	if string(ct) == "application/json" {
		return true
	}
	mt, _, err := mime.ParseMediaType(string(ct))
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// decodeJSON reads the body strictly into dst: Content-Type application/json, valid UTF-8, one JSON object of
// known fields, each once, spelled exactly, with the right types (and no null in a PATCH), nothing after it, at
// most MaxBodyBytes. Every failure is a 4xx problem naming the field where there is one.
func decodeJSON(c *app.RequestContext, dst any) error {
	if !jsonContentType(c.Request.Header.ContentType()) {
		return problem.New(http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type",
			"Send the body as application/json, with that Content-Type.")
	}
	if o, ok := dst.(*model.OrderCreate); ok && decodeOrderCreate(c.Request.Body(), o) {
		return nil
	}
	return decodeBody(c.Request.Body(), dst, string(c.Method()) == http.MethodPatch)
}

// decodeBody is decodeJSON without the request: the body's bytes alone. In a patch (RFC 7396 semantics) null
// would mean "remove this field", and no field of the API can be removed, so a null is refused there; elsewhere
// null is the same as leaving the field out (a client that marshals an unset optional field).
func decodeBody(body []byte, dst any, patch bool) error {
	if len(body) > MaxBodyBytes {
		return problem.New(http.StatusRequestEntityTooLarge, "body-too-large", "Request body too large",
			fmt.Sprintf("The body must be at most %d bytes.", MaxBodyBytes))
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return malformed("The body is empty; send a JSON object.")
	}
	if !utf8.Valid(body) {
		// encoding/json would quietly replace the bad bytes with U+FFFD and store that.
		return malformed("The body is not valid UTF-8.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		if len(bytes.TrimSpace(body[dec.InputOffset():])) != 0 {
			return malformed("The body must hold one JSON object and nothing after it.")
		}
		return exactKeys(body, dst, patch)
	}
	var (
		syntax    *json.SyntaxError
		wrongType *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syntax):
		return malformed(fmt.Sprintf("The body is not valid JSON (at byte %d).", syntax.Offset))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return malformed("The body is not valid JSON (it ends too early).")
	case errors.As(err, &wrongType):
		if wrongType.Field == "" {
			return invalidBody("", "the body must be a JSON object")
		}
		return invalidBody(wrongType.Field, "must be "+describe(wrongType))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return invalidBody(field, "is not a known field")
	}
	return malformed("The body could not be read as JSON.")
}

// describe says what JSON a field wanted, in words a client can act on.
func describe(e *json.UnmarshalTypeError) string {
	switch e.Type.Kind().String() {
	case "int", "int8", "int16", "int32", "int64":
		if e.Value == "number" || strings.HasPrefix(e.Value, "number ") {
			return "a whole number within range"
		}
		return "a whole number"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	}
	return "of type " + e.Type.String()
}

func malformed(detail string) error {
	return problem.New(http.StatusBadRequest, "malformed-json", "Malformed JSON", detail)
}

func invalidBody(field, detail string) error {
	return &model.ValidationError{In: "body", Fields: []model.FieldError{{Field: field, Detail: detail}}}
}

// pathID reads a positive integer id from the path, written canonically (model.ParseID).
func pathID(c *app.RequestContext) (int64, error) {
	id, ok := model.ParseID(c.Param("id"))
	if !ok {
		return 0, &model.ValidationError{In: "path", Fields: []model.FieldError{{Field: "id", Detail: "must be a positive whole number written in decimal digits"}}}
	}
	return id, nil
}

// queryValues copies the query string into url.Values, which the model parsers take.
func queryValues(c *app.RequestContext) url.Values {
	q := url.Values{}
	c.QueryArgs().VisitAll(func(k, v []byte) { q.Add(string(k), string(v)) })
	return q
}

// fieldNames caches, per struct type, the exact JSON names of its fields.
var fieldNames sync.Map // reflect.Type -> map[string]bool

// exactKeys refuses a top-level key that matches a field only case-insensitively ({"NAME": ...}):
// encoding/json accepts those, and strict JSON means a client learns of its typo.
func exactKeys(body []byte, dst any, patch bool) error {
	t := reflect.TypeOf(dst)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	names, ok := fieldNames.Load(t)
	if !ok {
		m := map[string]bool{}
		for i := 0; i < t.NumField(); i++ {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			if name != "" && name != "-" {
				m[name] = true
			}
		}
		names, _ = fieldNames.LoadOrStore(t, m)
	}
	known := names.(map[string]bool)
	var seen []string // a body has a handful of keys: a slice beats a map
	return objectKeys(body, func(key string, value []byte) error {
		switch {
		case !known[key]:
			return invalidBody(key, "is not a known field (names are case-sensitive)")
		case slices.Contains(seen, key):
			return invalidBody(key, "is given more than once")
		case patch && string(value) == "null":
			return invalidBody(key, "must not be null; leave the field out to keep its value")
		}
		seen = append(seen, key)
		return nil
	})
}

// objectKeys calls fn with each top-level key of the JSON object body holds and its raw value, in order, and stops at fn's first
// error. body must be valid JSON (decodeJSON has decoded it); a body that is not an object has no keys. It
// scans the bytes once without allocating, since it runs on every order.
func objectKeys(body []byte, fn func(key string, value []byte) error) error {
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return nil
	}
	for i++; ; {
		i = skipSpace(body, i)
		if i < len(body) && body[i] == ',' {
			i = skipSpace(body, i+1)
		}
		if i >= len(body) || body[i] != '"' {
			return nil // the closing brace
		}
		end := stringEnd(body, i)
		key := body[i+1 : end-1]
		if bytes.IndexByte(key, '\\') >= 0 { // escaped: let encoding/json read it
			var s string
			if err := json.Unmarshal(body[i:end], &s); err != nil {
				return nil
			}
			key = []byte(s)
		}
		i = skipSpace(body, end)
		start := skipSpace(body, i+1) // past the colon
		i = skipValue(body, start)
		if err := fn(string(key), bytes.TrimSpace(body[start:i])); err != nil {
			return err
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index just past the string that starts with the quote at b[i].
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// skipValue returns the index just past the value that starts at b[i] (for a number or literal: the comma
// or brace that ends it).
func skipValue(b []byte, i int) int {
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			i = stringEnd(b, i) - 1
			if depth == 0 {
				return i + 1
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i
			}
			if depth--; depth == 0 {
				return i + 1
			}
		case ',':
			if depth == 0 {
				return i
			}
		}
	}
	return i
}
