package model_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/learecordshop/recordshop/biz/model"
)

// FuzzParseTime: a time the shop accepts is in UTC, within MinTime..MaxTime, and writes back as JSON. An offset
// that carries a time across year 0 or 9999 is the trap: Go parses it, and json.Marshal then fails on every
// read of the record.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2026-11-24T12:00:00Z", "0000-01-01T00:30:00+01:00", "9999-12-31T23:59:59-05:00",
		"1900-01-01T00:00:00+00:01", "2026-11-24T12:00:00.1234567891Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := model.ParseTime(s)
		if !ok {
			return
		}
		if got.Before(model.MinTime) || got.After(model.MaxTime) {
			t.Fatalf("ParseTime(%q) = %v, outside %v..%v", s, got, model.MinTime, model.MaxTime)
		}
		if got.Location() != time.UTC {
			t.Fatalf("ParseTime(%q) = %v in %v; want UTC", s, got, got.Location())
		}
		if got.Nanosecond()%1000 != 0 {
			t.Fatalf("ParseTime(%q) = %v, finer than Postgres' microseconds", s, got)
		}
		if _, err := json.Marshal(got); err != nil {
			t.Fatalf("ParseTime(%q) = %v, which cannot be written as JSON: %v", s, got, err)
		}
	})
}

// FuzzParseID: an id has one spelling, so an accepted string is exactly the decimal form of a positive id.
func FuzzParseID(f *testing.F) {
	for _, s := range []string{"1", "01", "+1", "-0", "9223372036854775807", "9223372036854775808", "1e3", "1\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := model.ParseID(s)
		if !ok {
			return
		}
		if n <= 0 || strconv.FormatInt(n, 10) != s {
			t.Fatalf("ParseID(%q) = %d; want only the canonical spelling of a positive id", s, n)
		}
	})
}

// FuzzParseUUID: an order has one URL, so an accepted string is the canonical form of the id it names, up to
// the case of its hex digits.
func FuzzParseUUID(f *testing.F) {
	for _, s := range []string{"0193a4b0-7c1e-7d4a-9b1f-2c3d4e5f6a7b", "{0193a4b0-7c1e-7d4a-9b1f-2c3d4e5f6a7b}",
		"urn:uuid:0193a4b0-7c1e-7d4a-9b1f-2c3d4e5f6a7b", "0193a4b07c1e7d4a9b1f2c3d4e5f6a7b", "0193A4B0-7C1E-7D4A-9B1F-2C3D4E5F6A7B"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := model.ParseUUID(s)
		if ok && !strings.EqualFold(id.String(), s) {
			t.Fatalf("ParseUUID(%q) = %v; want only the canonical spelling", s, id)
		}
	})
}
