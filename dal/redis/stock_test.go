package redis_test

import (
	"errors"
	"maps"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	goredis "github.com/redis/go-redis/v9"

	rsredis "github.com/learecordshop/recordshop/dal/redis"
)

// discHash is a disc's hash as the scripts write it.
func discHash(ver, avail, price int64, limit int, starts time.Time, active bool) map[string]string {
	a := "0"
	if active {
		a = "1"
	}
	return map[string]string{"ver": strconv.FormatInt(ver, 10), "avail": strconv.FormatInt(avail, 10),
		"price": strconv.FormatInt(price, 10), "limit": strconv.Itoa(limit),
		"starts": strconv.FormatInt(starts.UnixMilli(), 10), "active": a, "known": "1"}
}

// partly is a disc hash of which Redis knows only some buyers (known = 0): their units are read from Postgres.
func partly(disc map[string]string) map[string]string {
	disc = maps.Clone(disc)
	disc["known"] = "0"
	return disc
}

// withDisc is state with discID's hash and bought hash replaced (an empty bought hash is no key at all).
func (f fixture) withDisc(state map[string]any, disc, bought map[string]string) map[string]any {
	want := maps.Clone(state)
	want[f.k.Disc(discID)] = disc
	delete(want, f.k.Bought(discID))
	if len(bought) > 0 {
		want[f.k.Bought(discID)] = bought
	}
	return want
}

func TestApplyScript(t *testing.T) {
	starts := now.Add(-time.Hour)
	later := now.Add(48 * time.Hour)
	// The disc in Redis before each row: version 5, 10 units, limit 4; customer 42 holds 3 units, 43 holds 1.
	base := *liveDisc(discID, 10, limit(4))
	baseBought := map[int64]int64{buyer: 3, other: 1}
	// change is stock event v with delta, carrying the disc as of v (unchanged fields unless a row says otherwise).
	change := func(v, delta int64) rsredis.Change {
		d := base
		d.Version, d.Avail = v, 0
		return rsredis.Change{Disc: d, Delta: delta}
	}
	cancel := func(v int64, customer, units int64) rsredis.Change {
		c := change(v, units)
		c.CustomerID, c.CustomerDelta = customer, -units
		return c
	}
	guarded := func(c rsredis.Change) rsredis.Change { c.Guard = true; return c }
	restock := change(6, 5)
	restock.Disc.PriceCents, restock.Disc.Limit, restock.Disc.StartsAt, restock.Disc.Active = 2999, 6, later, false

	rows := []struct {
		name       string
		missing    bool // the disc is not in Redis
		prep       func(f fixture)
		change     rsredis.Change
		want       rsredis.ApplyCode
		value      int64
		wantDisc   map[string]string // nil: nothing may change
		wantBought map[string]string
	}{
		{name: "restock moves stock and version and updates the disc (archived: its units per customer go)", change: restock,
			want: rsredis.Applied, value: 15,
			wantDisc:   partly(discHash(6, 15, 2999, 6, later, false)),
			wantBought: map[string]string{}},
		{name: "lifting the limit drops the units per customer, which only a limit needs", change: func() rsredis.Change {
			c := cancel(6, buyer, 1)
			c.Disc.Limit = 0
			return c
		}(),
			want: rsredis.Applied, value: 11,
			wantDisc:   partly(discHash(6, 11, priceCents, 0, starts, true)),
			wantBought: map[string]string{}},
		{name: "archiving drops the units per customer: the sale is over", change: func() rsredis.Change {
			c := change(6, 0)
			c.Disc.Active = false
			return c
		}(),
			want: rsredis.Applied, value: 10,
			wantDisc:   partly(discHash(6, 10, priceCents, 4, starts, false)),
			wantBought: map[string]string{}},
		{name: "cancel gives units back to the disc and the customer", change: cancel(6, buyer, 2),
			want: rsredis.Applied, value: 12,
			wantDisc:   discHash(6, 12, priceCents, 4, starts, true),
			wantBought: map[string]string{"42": "1", "43": "1"}},
		{name: "cancel of all a customer's units removes the customer", change: cancel(6, buyer, 3),
			want: rsredis.Applied, value: 13,
			wantDisc:   discHash(6, 13, priceCents, 4, starts, true),
			wantBought: map[string]string{"43": "1"}},
		{name: "versions apply one after another", prep: func(f fixture) { f.mustApply(change(6, 1)) },
			change: change(7, 1), want: rsredis.Applied, value: 12,
			wantDisc:   discHash(7, 12, priceCents, 4, starts, true),
			wantBought: map[string]string{"42": "3", "43": "1"}},
		{name: "unguarded negative delta applies", change: change(6, -4),
			want: rsredis.Applied, value: 6,
			wantDisc:   discHash(6, 6, priceCents, 4, starts, true),
			wantBought: map[string]string{"42": "3", "43": "1"}},
		{name: "unguarded negative delta applies as is, even below zero", change: change(6, -11),
			want: rsredis.Applied, value: -1,
			wantDisc:   discHash(6, -1, priceCents, 4, starts, true),
			wantBought: map[string]string{"42": "3", "43": "1"}},
		{name: "guard lets stock reach zero", change: guarded(change(6, -10)),
			want: rsredis.Applied, value: 0,
			wantDisc:   discHash(6, 0, priceCents, 4, starts, true),
			wantBought: map[string]string{"42": "3", "43": "1"}},

		{name: "duplicate of the applied version", change: change(5, 7), want: rsredis.Duplicate, value: 5},
		{name: "duplicate of an older version", change: change(3, 7), want: rsredis.Duplicate, value: 5},
		{name: "duplicate cancel gives nothing back twice", prep: func(f fixture) { f.mustApply(cancel(6, buyer, 2)) },
			change: cancel(6, buyer, 2), want: rsredis.Duplicate, value: 6},
		{name: "gap: a version skipped", change: change(7, 7), want: rsredis.Gap, value: 5},
		{name: "missing disc", missing: true, change: cancel(6, buyer, 2), want: rsredis.Missing},
		{name: "short: guard refuses going below zero", change: guarded(change(6, -11)),
			want: rsredis.Short, value: 10},
		{name: "short leaves a cancel's customer alone", change: guarded(rsredis.Change{Disc: change(6, 0).Disc,
			Delta: -11, CustomerID: buyer, CustomerDelta: -3}), want: rsredis.Short, value: 10},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			for _, row := range rows {
				t.Run(row.name, func(t *testing.T) {
					f := newFixture(t, b)
					if !row.missing {
						f.load(base, baseBought)
					}
					if row.prep != nil {
						row.prep(f)
					}
					before := f.dump()

					code, v, err := f.g.Apply(t.Context(), row.change)
					if err != nil {
						t.Fatal(err)
					}
					if code != row.want || v != row.value {
						t.Fatalf("answer %d (value %d), want %d (value %d)", code, v, row.want, row.value)
					}
					want := before
					if row.wantDisc != nil {
						want = f.withDisc(before, row.wantDisc, row.wantBought)
					}
					if diff := cmp.Diff(want, f.dump()); diff != "" {
						t.Errorf("store after apply (-want +got):\n%s", diff)
					}
				})
			}
		})
	}
}

func TestLoadScript(t *testing.T) {
	starts := now.Add(-time.Hour)
	state := *liveDisc(discID, 10, limit(4))
	rows := []struct {
		name       string
		prep       func(f fixture)
		state      rsredis.DiscState
		bought     map[int64]int64
		loaded     bool
		wantDisc   map[string]string // nil: nothing may change
		wantBought map[string]string
	}{
		{name: "loads a missing disc with its bought units", state: state,
			bought: map[int64]int64{buyer: 3, other: 1}, loaded: true,
			wantDisc:   discHash(5, 10, priceCents, 4, starts, true),
			wantBought: map[string]string{"42": "3", "43": "1"}},
		{name: "loads a disc nobody bought", state: state, loaded: true,
			wantDisc: discHash(5, 10, priceCents, 4, starts, true)},
		{name: "loads an archived disc inactive", state: *liveDisc(discID, 10, archived), loaded: true,
			wantDisc: discHash(5, 10, priceCents, 0, starts, false)},
		{name: "load replaces bought units left without their disc",
			prep: func(f fixture) {
				if err := f.rdb.HSet(f.t.Context(), f.k.Bought(discID), "99", 5).Err(); err != nil {
					f.t.Fatal(err)
				}
			},
			state: state, bought: map[int64]int64{buyer: 3}, loaded: true,
			wantDisc:   discHash(5, 10, priceCents, 4, starts, true),
			wantBought: map[string]string{"42": "3"}},
		{name: "second load writes nothing, live stock stays",
			prep: func(f fixture) {
				f.load(state, map[int64]int64{other: 1})
				f.mustReserve(request(buyer, discID, 2, "key-1"))
			},
			state: rsredis.DiscState{ID: discID, Version: 9, Avail: 100, PriceCents: 1, Limit: 50,
				StartsAt: now.Add(time.Hour), Active: false},
			bought: map[int64]int64{buyer: 0, 44: 7}, loaded: false},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			for _, row := range rows {
				t.Run(row.name, func(t *testing.T) {
					f := newFixture(t, b)
					if row.prep != nil {
						row.prep(f)
					}
					before := f.dump()

					loaded, err := f.g.Load(t.Context(), row.state, row.bought)
					if err != nil {
						t.Fatal(err)
					}
					if loaded != row.loaded {
						t.Fatalf("loaded %v, want %v", loaded, row.loaded)
					}
					want := before
					if row.wantDisc != nil {
						want = f.withDisc(before, row.wantDisc, row.wantBought)
					}
					if diff := cmp.Diff(want, f.dump()); diff != "" {
						t.Errorf("store after load (-want +got):\n%s", diff)
					}
				})
			}
		})
	}
}

// TestSnapshot reads a partition as reconcile does: the stream position, pending orders, dead letters (an
// unreadable one counted), each disc's counts and known flag, and a disc Redis lacks; a count that is not a
// number is a bad reply, never a zero.
func TestSnapshot(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b)
			ctx := t.Context()
			if _, err := f.g.LoadAll(ctx, []rsredis.LoadItem{{State: *liveDisc(discID, 10, limit(4)), Bought: map[int64]int64{other: 1}, Partial: true}}); err != nil {
				t.Fatal(err)
			}
			empty, err := f.g.Snapshot(ctx, f.k.Partition(discID), []int64{discID})
			if err != nil || empty.LastID != "0-0" {
				t.Fatalf("snapshot before any order: %+v, %v; want position 0-0", empty, err)
			}
			o := f.mustReserve(request(other, discID, 2, ""))
			p := f.k.Partition(discID)
			if err := f.rdb.XAdd(ctx, &goredis.XAddArgs{Stream: f.k.DeadLetters(p), Values: map[string]any{"o": "junk"}}).Err(); err != nil {
				t.Fatal(err)
			}
			snap, err := f.g.Snapshot(ctx, p, []int64{discID, neighbour})
			if err != nil {
				t.Fatal(err)
			}
			want := map[int64]rsredis.DiscSnapshot{
				discID:    {Present: true, Avail: 8, Version: 5, Bought: map[int64]int64{other: 3}, Partial: true},
				neighbour: {},
			}
			if diff := cmp.Diff(want, snap.Discs); diff != "" {
				t.Errorf("discs (-want +got):\n%s", diff)
			}
			if len(snap.Pending) != 1 || snap.Pending[0].ID != o.ID || snap.DeadUnreadable != 1 || snap.LastID == "0-0" {
				t.Errorf("snapshot: pending %v, unreadable dead %d, position %s; want the order, 1, past 0-0", snap.Pending, snap.DeadUnreadable, snap.LastID)
			}
			if err := f.rdb.HSet(ctx, f.k.Disc(discID), "avail", "ten").Err(); err != nil {
				t.Fatal(err)
			}
			if _, err := f.g.Snapshot(ctx, p, []int64{discID}); !errors.Is(err, rsredis.ErrBadReply) {
				t.Fatalf("snapshot of a disc whose avail is not a number: %v; want ErrBadReply", err)
			}
		})
	}
}
