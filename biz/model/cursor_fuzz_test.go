package model_test

import (
	"testing"

	"github.com/learecordshop/recordshop/biz/model"
)

// fuzzCursors signs the cursors of the fuzz targets; otherCursors is another shop's codec.
var (
	fuzzCursors  = model.NewCursorCodec([]byte("the fuzz key, sixteen bytes or more"))
	otherCursors = model.NewCursorCodec([]byte("another shop's key, just as long"))
)

// fuzzValidCursors are cursors of every list and sort order, their fields as the lists fill them.
var fuzzValidCursors = []model.Cursor{
	{Sort: "id", ID: 3},
	{Sort: "name", Value: "björk", ID: 1},
	{Sort: "-artist", Value: "坂本龍一", ID: 9},
	{Sort: "release_year", Value: "1959", ID: 2},
	{Sort: "-created_at", Value: "2026-11-24T12:00:00.123456Z", ID: 4},
	{Sort: "-reserved_at", Value: "2026-11-24T12:00:00.001Z", OrderID: "0193a4b0-7c1e-7d4a-9b1f-2c3d4e5f6a7b"},
}

// FuzzCursorDecode feeds any string to Decode, under any sort order. Only a cursor the codec made gets through,
// and it has one spelling: encoding what Decode returned gives back the very string it read.
func FuzzCursorDecode(f *testing.F) {
	for _, c := range fuzzValidCursors {
		f.Add(fuzzCursors.Encode(c), c.Sort)
		f.Add(otherCursors.Encode(c), c.Sort)
	}
	f.Fuzz(func(t *testing.T, s, sort string) {
		c, ok := fuzzCursors.Decode(s, sort)
		if !ok {
			if c != (model.Cursor{}) {
				t.Fatalf("Decode(%q, %q) refused it but returned %+v", s, sort, c)
			}
			return
		}
		if c.Sort != sort {
			t.Fatalf("Decode(%q, %q) = %+v, a cursor of another sort order", s, sort, c)
		}
		if again := fuzzCursors.Encode(c); again != s {
			t.Fatalf("Decode(%q, %q) = %+v, which encodes as %q: one cursor, two spellings", s, sort, c, again)
		}
	})
}

// FuzzCursorRoundTrip encodes a cursor of any fields. When Decode takes it back, it returns it unchanged; the
// other shop's codec refuses it; and so does Decode once any one byte of it is changed.
func FuzzCursorRoundTrip(f *testing.F) {
	for _, c := range fuzzValidCursors {
		f.Add(c.Sort, c.Value, c.ID, c.OrderID, byte(1))
	}
	f.Add("name", "a\u202eb", int64(1), "", byte(0x80))
	f.Add("created_at", "0000-01-01T00:30:00+01:00", int64(1), "", byte(0xff))
	f.Add("-reserved_at", "2026-11-24T12:00:00Z", int64(0), "{0193a4b0-7c1e-7d4a-9b1f-2c3d4e5f6a7b}", byte(0x20))
	f.Fuzz(func(t *testing.T, sort, value string, id int64, orderID string, flip byte) {
		c := model.Cursor{Sort: sort, Value: value, ID: id, OrderID: orderID}
		s := fuzzCursors.Encode(c)
		got, ok := fuzzCursors.Decode(s, sort)
		if !ok {
			return
		}
		if got != c {
			t.Fatalf("Decode(Encode(%+v)) = %+v; want it unchanged", c, got)
		}
		if _, ok := otherCursors.Decode(s, sort); ok {
			t.Fatalf("cursor %q signed with another key was accepted", s)
		}
		if flip == 0 {
			flip = 1
		}
		b := []byte(s)
		for i := range b {
			b[i] ^= flip
			if c, ok := fuzzCursors.Decode(string(b), sort); ok {
				t.Fatalf("cursor %q with byte %d changed to %q was accepted as %+v", s, i, b, c)
			}
			b[i] ^= flip
		}
	})
}
