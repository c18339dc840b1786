package model

import (
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// The rules every value from a client passes before the shop keeps it or hands it to a store. They live here,
// once, so that a body field, a query parameter, a path segment and a cursor are held to the same rule.

// MaxTextLen bounds every free text, in characters.
const MaxTextLen = 200

// Times the shop accepts, in UTC: the API's own JSON (RFC 3339 needs a four-digit year) and Postgres can hold
// everything between.
var (
	MinTime = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	MaxTime = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
)

// ParseTime reads an RFC 3339 time, in UTC and at Postgres' microsecond precision. ok is false for anything
// else, and for a time whose offset takes it outside MinTime..MaxTime: such a time would be stored and then
// could not be written back as JSON.
func ParseTime(s string) (t time.Time, ok bool) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	t = t.UTC().Truncate(time.Microsecond)
	return t, !t.Before(MinTime) && !t.After(MaxTime)
}

// ParseID reads a positive int64 id written canonically: decimal digits without sign, leading zeros, spaces
// or anything else, so one id has one spelling ("01" and "+1" are refused, not read as 1).
func ParseID(s string) (int64, bool) {
	if s == "" || len(s) > 19 || s[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// ParseUUID reads an order id in its canonical form only: 36 characters, hyphens at 8-4-4-4-12, hex digits in
// either case (returned lower-cased by String). The braced, urn: and bare 32-digit forms uuid.Parse also takes
// are refused, so an order has one URL.
func ParseUUID(s string) (uuid.UUID, bool) {
	if len(s) != 36 {
		return uuid.UUID{}, false
	}
	id, err := uuid.Parse(s)
	return id, err == nil
}

// textProblem says what is wrong with s as a client's text, or "" when nothing is. Text is valid UTF-8 without
// control characters (NUL among them), the replacement character U+FFFD (what a decoder leaves of bytes that
// were not UTF-8 or of a lone surrogate), or bidirectional overrides, embeddings and isolates, which can make
// a name display as something else than it is.
func textProblem(s string) string {
	if !utf8.ValidString(s) {
		return "must be valid UTF-8 text"
	}
	for _, r := range s {
		switch {
		case unicode.IsControl(r), r == utf8.RuneError:
			return "must be printable text (no control characters)"
		case isBidiControl(r):
			return "must not hold bidirectional control characters"
		}
	}
	return ""
}

// isBidiControl reports the characters that reorder how text around them is displayed.
func isBidiControl(r rune) bool {
	return (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069) || r == 0x200E || r == 0x200F || r == 0x061C
}

// visible reports whether s has at least one character that shows by itself: a letter, digit, punctuation or
// symbol. A name of only spaces, zero-width characters or combining marks (with no letter to sit on) is no name.
func visible(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool {
		return unicode.In(r, unicode.L, unicode.N, unicode.P, unicode.S)
	}) >= 0
}

// trimText trims spaces and zero-width characters from both ends of s.
func trimText(s string) string {
	return strings.TrimFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || r == 0x200B || r == 0x2060 || r == 0xFEFF
	})
}
