package model

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Cursor marks where a page ended in keyset order: the sort key's value and the id of the last row. Clients get
// it opaque and signed (CursorCodec): a cursor the shop did not make is refused before any of it reaches a
// query, and even a signed one is checked field by field against the sort order it claims.
type Cursor struct {
	Sort    string `json:"s"`
	Value   string `json:"v,omitempty"`
	ID      int64  `json:"id,omitempty"`  // customers and discs
	OrderID string `json:"oid,omitempty"` // orders (UUIDs)
}

// maxCursorLen bounds a cursor's encoded form; a real one is well under 400 bytes.
const maxCursorLen = 1024

// cursorMACLen is how much of the HMAC-SHA256 a cursor carries: 128 bits cannot be guessed.
const cursorMACLen = 16

// CursorTime is how a cursor writes a timestamp sort value: RFC 3339 in UTC with Postgres' microseconds, which
// ParseTime reads back exactly and Postgres casts to timestamptz whatever its session settings.
func CursorTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// CursorCodec turns cursors into the opaque strings clients hold and back: base64url JSON, a dot, and a
// base64url HMAC-SHA256 of the JSON under the shop's key. Every replica must share the key for a cursor from
// one to work on another.
type CursorCodec struct{ key []byte }

// NewCursorCodec returns the codec for key (at least 16 bytes of secret).
func NewCursorCodec(key []byte) CursorCodec { return CursorCodec{key: slices.Clone(key)} }

func (k CursorCodec) mac(payload []byte) []byte {
	m := hmac.New(sha256.New, k.key)
	m.Write(payload)
	return m.Sum(nil)[:cursorMACLen]
}

// Encode returns c's opaque, signed form.
func (k CursorCodec) Encode(c Cursor) string {
	b, _ := json.Marshal(c) // a struct of strings and an int always marshals
	return base64.RawURLEncoding.EncodeToString(b) + "." + base64.RawURLEncoding.EncodeToString(k.mac(b))
}

// Decode reads a cursor this codec made for the list sorted by sort ("id", a disc sort key with an optional
// leading "-", or "-reserved_at"); ok is false for anything else, a cursor with one character changed among them.
func (k CursorCodec) Decode(s, sort string) (c Cursor, ok bool) {
	payload, sig, found := strings.Cut(s, ".")
	if !found || len(s) > maxCursorLen {
		return Cursor{}, false
	}
	b64 := base64.RawURLEncoding.Strict()
	b, err := b64.DecodeString(payload)
	if err != nil {
		return Cursor{}, false
	}
	got, err := b64.DecodeString(sig)
	if err != nil || !hmac.Equal(got, k.mac(b)) {
		return Cursor{}, false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || dec.More() || c.Sort != sort || !c.valid() {
		return Cursor{}, false
	}
	// One cursor, one spelling: the base64 decoder skips CR and LF, and JSON allows other spellings of the
	// same values, so only the exact string Encode makes is taken.
	if k.Encode(c) != s {
		return Cursor{}, false
	}
	return c, true
}

// valid checks each field by what the sort order puts in it.
func (c Cursor) valid() bool {
	switch key := strings.TrimPrefix(c.Sort, "-"); key {
	case "id":
		return c.ID > 0 && c.Value == "" && c.OrderID == ""
	case "name", "artist":
		return c.ID > 0 && c.OrderID == "" && textProblem(c.Value) == "" && utf8.RuneCountInString(c.Value) <= MaxTextLen
	case "release_year":
		y, err := strconv.Atoi(c.Value)
		return c.ID > 0 && c.OrderID == "" && err == nil && y >= MinReleaseYear && y <= MaxReleaseYear
	case "created_at":
		_, ok := ParseTime(c.Value)
		return c.ID > 0 && c.OrderID == "" && ok
	case "reserved_at":
		_, ok := ParseTime(c.Value)
		_, isUUID := ParseUUID(c.OrderID)
		return c.ID == 0 && ok && isUUID
	}
	return false
}
