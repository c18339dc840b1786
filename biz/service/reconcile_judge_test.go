package service

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/dal/pg"
	rsredis "github.com/learecordshop/recordshop/dal/redis"
)

// The judge's tests start from one story and change one thing each. Disc 1 (partition 1) was created with 10
// units (stock version 1, applied in Redis); customer 7 bought 2, and the writer has that order in Postgres.
// The snapshot was taken at T; orders reserved before T-1min are stuck.
var judgeT = time.Date(2026, 11, 24, 18, 0, 0, 0, time.UTC)

const (
	judgeDisc1     = int64(1)
	judgeDisc2     = int64(5) // the same partition of 4
	judgeCustomer  = int64(7)
	judgeCustomer2 = int64(9)
)

func judgeStory() evidence {
	return evidence{
		Discs: []int64{judgeDisc1},
		Redis: rsredis.Snapshot{Partition: 1, LastID: "1700000000000-0", Discs: map[int64]rsredis.DiscSnapshot{
			judgeDisc1: {Present: true, Avail: 8, Version: 1, Bought: map[int64]int64{judgeCustomer: 2}},
		}},
		Ledger: map[int64]*pg.LedgerDisc{judgeDisc1: {ID: judgeDisc1, Stock: 8, Version: 1, Limit: 4, EventsSum: 10, OrdersSum: 2,
			Confirmed: map[int64]int64{judgeCustomer: 2}, After: map[int64]int64{}, CancelsAfter: map[int64]int64{}}},
		Persisted:   map[uuid.UUID]bool{},
		StuckBefore: judgeT.Add(-time.Minute),
	}
}

// judgeClean is the report of the story as told.
func judgeClean() DiscReport {
	return DiscReport{DiscID: judgeDisc1, Partition: 1, Verdict: VerdictOK, RedisAvail: 8, ExpectedAvail: 8, PGStock: 8, LedgerStock: 8}
}

func judgeOrder(n byte, disc, customer int64, quantity int, reservedAt time.Time) model.Order {
	return model.Order{ID: uuid.UUID{15: n}, DiscID: disc, CustomerID: customer, Quantity: quantity, ReservedAt: reservedAt}
}

func TestJudge(t *testing.T) {
	recent := judgeT.Add(-time.Second)
	old := judgeT.Add(-2 * time.Minute)
	tests := []struct {
		name   string
		change func(ev *evidence)  // what differs from the story
		want   func(d *DiscReport) // what differs from the clean report of disc 1
		more   []DiscReport        // reports of other discs, after disc 1's
		dead   int                 // unreadable dead letters
	}{
		{name: "clean disc", change: func(*evidence) {}, want: func(*DiscReport) {}},
		{name: "redis available too high",
			change: func(ev *evidence) { setAvail(ev, judgeDisc1, 11) },
			want:   func(d *DiscReport) { d.Verdict, d.RedisAvail, d.Drift = VerdictDrift, 11, 3 }},
		{name: "redis available too low",
			change: func(ev *evidence) { setAvail(ev, judgeDisc1, 5) },
			want:   func(d *DiscReport) { d.Verdict, d.RedisAvail, d.Drift = VerdictDrift, 5, -3 }},
		{name: "reserved in redis, not yet in postgres: in flight, not drift",
			change: func(ev *evidence) {
				setAvail(ev, judgeDisc1, 6)
				ev.Redis.Discs[judgeDisc1].Bought[judgeCustomer] = 4
				ev.Redis.Pending = []model.Order{judgeOrder(1, judgeDisc1, judgeCustomer, 2, recent)}
			},
			want: func(d *DiscReport) { d.RedisAvail, d.ExpectedAvail, d.PendingUnits = 6, 6, 2 }},
		{name: "pending at the snapshot, in postgres by the ledger read: counted once",
			change: func(ev *evidence) {
				setAvail(ev, judgeDisc1, 6)
				ev.Redis.Discs[judgeDisc1].Bought[judgeCustomer] = 4
				o := judgeOrder(1, judgeDisc1, judgeCustomer, 2, recent)
				ev.Redis.Pending = []model.Order{o}
				ev.Persisted[o.ID] = true
				l := ev.Ledger[judgeDisc1]
				l.Stock, l.OrdersSum, l.Confirmed[judgeCustomer] = 6, 4, 4
			},
			want: func(d *DiscReport) { d.RedisAvail, d.ExpectedAvail, d.PGStock, d.LedgerStock = 6, 6, 6, 6 }},
		{name: "reserved after the snapshot position and already in postgres: no false drift under load",
			change: func(ev *evidence) {
				// Redis is as at T; after T customer 7 bought 2 more and customer 9 bought 1, and the writer
				// put both orders in Postgres before the ledger was read.
				l := ev.Ledger[judgeDisc1]
				l.Stock, l.OrdersSum = 5, 5
				l.Confirmed[judgeCustomer], l.Confirmed[judgeCustomer2] = 4, 1
				l.After[judgeCustomer], l.After[judgeCustomer2] = 2, 1
				l.AfterTotal = 3
			},
			want: func(d *DiscReport) { d.PGStock, d.LedgerStock = 5, 5 }},
		{name: "a restock not yet applied",
			change: func(ev *evidence) {
				l := ev.Ledger[judgeDisc1]
				l.Stock, l.Version, l.EventsSum, l.EventsAfter = 13, 2, 15, 5
			},
			want: func(d *DiscReport) { d.PGStock, d.LedgerStock, d.Unapplied = 13, 13, 5 }},
		{name: "a cancel not yet applied gives the customer's units back in postgres only",
			change: func(ev *evidence) {
				l := ev.Ledger[judgeDisc1]
				l.Stock, l.Version, l.EventsSum, l.EventsAfter = 10, 2, 12, 2
				delete(l.Confirmed, judgeCustomer)
				l.CancelsAfter[judgeCustomer] = 2
			},
			want: func(d *DiscReport) { d.PGStock, d.LedgerStock, d.Unapplied = 10, 10, 2 }},
		{name: "a stock event unapplied past the threshold: stuck",
			change: func(ev *evidence) {
				l := ev.Ledger[judgeDisc1]
				l.Stock, l.Version, l.EventsSum, l.EventsAfter, l.OldUnapplied = 13, 2, 15, 5, 1
			},
			want: func(d *DiscReport) {
				d.Verdict, d.PGStock, d.LedgerStock, d.Unapplied, d.StuckEvents = VerdictStuck, 13, 13, 5, 1
			}},
		{name: "a pending order older than StuckAfter: stuck",
			change: func(ev *evidence) {
				setAvail(ev, judgeDisc1, 6)
				ev.Redis.Discs[judgeDisc1].Bought[judgeCustomer] = 4
				ev.Redis.Pending = []model.Order{judgeOrder(1, judgeDisc1, judgeCustomer, 2, old)}
			},
			want: func(d *DiscReport) {
				d.Verdict, d.RedisAvail, d.ExpectedAvail, d.PendingUnits, d.StuckPending = VerdictStuck, 6, 6, 2, 1
			}},
		{name: "missing from redis: needs its stock less what is confirmed and not in postgres",
			change: func(ev *evidence) {
				ev.Redis.Discs[judgeDisc1] = rsredis.DiscSnapshot{Bought: map[int64]int64{}}
				ev.Redis.Pending = []model.Order{judgeOrder(1, judgeDisc1, judgeCustomer, 2, recent)}
			},
			want: func(d *DiscReport) {
				d.Verdict, d.RedisAvail, d.ExpectedAvail, d.Drift, d.PendingUnits = VerdictMissing, 0, 6, -6, 2
				d.Notes = []string{"not in redis"}
			}},
		{name: "missing from redis and archived: off sale, nothing to hold",
			change: func(ev *evidence) {
				ev.Redis.Discs[judgeDisc1] = rsredis.DiscSnapshot{Bought: map[int64]int64{}}
				ev.Ledger[judgeDisc1].Archived = true
			},
			want: func(d *DiscReport) { d.RedisAvail, d.Drift = 0, -8 }},
		{name: "not loaded by the relay yet: in flight, not missing",
			change: func(ev *evidence) {
				ev.Redis.Discs[judgeDisc1] = rsredis.DiscSnapshot{Bought: map[int64]int64{}}
				ev.Ledger[judgeDisc1].NeverApplied = true
			},
			want: func(d *DiscReport) {
				d.RedisAvail, d.ExpectedAvail = 0, 0
				d.Notes = []string{"not in redis yet: its stock events wait for the relay"}
			}},
		{name: "not loaded by the relay past the threshold: stuck",
			change: func(ev *evidence) {
				ev.Redis.Discs[judgeDisc1] = rsredis.DiscSnapshot{Bought: map[int64]int64{}}
				ev.Ledger[judgeDisc1].NeverApplied = true
				ev.Ledger[judgeDisc1].OldUnapplied = 1
			},
			want: func(d *DiscReport) {
				d.Verdict, d.RedisAvail, d.ExpectedAvail, d.StuckEvents = VerdictStuck, 0, 0, 1
				d.Notes = []string{"not in redis yet: its stock events wait for the relay"}
			}},
		{name: "redis at a version postgres never committed: drift, reloaded by --fix",
			change: func(ev *evidence) {
				ev.Redis.Discs[judgeDisc1] = rsredis.DiscSnapshot{Present: true, Avail: 5, Version: 2, Bought: map[int64]int64{judgeCustomer: 2}}
			},
			want: func(d *DiscReport) {
				d.Verdict, d.RedisAvail, d.Drift, d.versionAhead = VerdictDrift, 5, -3, true
				d.Notes = []string{"redis at version 2, postgres at 1"}
			}},
		{name: "ledger identity broken: stock is not events less orders",
			change: func(ev *evidence) { ev.Ledger[judgeDisc1].Stock = 11 },
			want: func(d *DiscReport) {
				d.Verdict, d.PGStock, d.ExpectedAvail, d.Drift = VerdictLedger, 11, 11, -3
				d.Notes = []string{"postgres stock 11, ledger says 8"}
			}},
		{name: "ledger outranks missing",
			change: func(ev *evidence) {
				ev.Redis.Discs[judgeDisc1] = rsredis.DiscSnapshot{Bought: map[int64]int64{}}
				ev.Ledger[judgeDisc1].OrdersSum = 3
			},
			want: func(d *DiscReport) {
				d.Verdict, d.RedisAvail, d.Drift, d.LedgerStock = VerdictLedger, 0, -8, 7
				d.Notes = []string{"postgres stock 8, ledger says 7"}
			}},
		{name: "negative stock, though the identity holds",
			change: func(ev *evidence) {
				setAvail(ev, judgeDisc1, -1)
				l := ev.Ledger[judgeDisc1]
				l.Stock, l.EventsSum, l.OrdersSum = -1, 1, 2
			},
			want: func(d *DiscReport) {
				d.Verdict, d.RedisAvail, d.ExpectedAvail, d.PGStock, d.LedgerStock = VerdictLedger, -1, -1, -1, -1
				d.Notes = []string{"postgres stock -1, ledger says -1"}
			}},
		{name: "a customer's units drifted",
			change: func(ev *evidence) {
				ev.Redis.Discs[judgeDisc1].Bought[judgeCustomer] = 3
				ev.Redis.Discs[judgeDisc1].Bought[judgeCustomer2] = 1
			},
			want: func(d *DiscReport) {
				d.Verdict = VerdictDrift
				d.Customers = []CustomerDrift{{CustomerID: judgeCustomer, Redis: 3, Expected: 2}, {CustomerID: judgeCustomer2, Redis: 1, Expected: 0}}
			}},
		{name: "redis knows some buyers: those it lacks are postgres' alone, not drift",
			change: func(ev *evidence) {
				ev.Redis.Discs[judgeDisc1] = partial(ev.Redis.Discs[judgeDisc1])
				delete(ev.Redis.Discs[judgeDisc1].Bought, judgeCustomer)
			},
			want: func(*DiscReport) {}},
		{name: "redis knows some buyers: one it holds drifted",
			change: func(ev *evidence) {
				ev.Redis.Discs[judgeDisc1] = partial(ev.Redis.Discs[judgeDisc1])
				ev.Redis.Discs[judgeDisc1].Bought[judgeCustomer] = 3
			},
			want: func(d *DiscReport) {
				d.Verdict = VerdictDrift
				d.Customers = []CustomerDrift{{CustomerID: judgeCustomer, Redis: 3, Expected: 2}}
			}},
		{name: "redis knows some buyers: one with a pending order must be held",
			change: func(ev *evidence) {
				ev.Redis.Discs[judgeDisc1] = partial(ev.Redis.Discs[judgeDisc1])
				setAvail(ev, judgeDisc1, 7)
				ev.Redis.Pending = []model.Order{judgeOrder(1, judgeDisc1, judgeCustomer2, 1, recent)}
			},
			want: func(d *DiscReport) {
				d.Verdict, d.RedisAvail, d.ExpectedAvail, d.PendingUnits = VerdictDrift, 7, 7, 1
				d.Customers = []CustomerDrift{{CustomerID: judgeCustomer2, Redis: 0, Expected: 1}}
			}},
		{name: "a disc without a limit: Redis keeps no units per customer, and none are compared",
			change: func(ev *evidence) {
				ev.Ledger[judgeDisc1].Limit = 0
				ev.Redis.Discs[judgeDisc1].Bought[judgeCustomer] = 0
				delete(ev.Redis.Discs[judgeDisc1].Bought, judgeCustomer)
			},
			want: func(*DiscReport) {}},
		{name: "dead letters counted, and the unreadable ones for the partition",
			change: func(ev *evidence) {
				setAvail(ev, judgeDisc1, 5)
				ev.Redis.Discs[judgeDisc1].Bought[judgeCustomer] = 3
				ev.Redis.Discs[judgeDisc1].Bought[judgeCustomer2] = 2
				ev.Redis.Dead = []model.Order{judgeOrder(1, judgeDisc1, judgeCustomer, 1, old), judgeOrder(2, judgeDisc1, judgeCustomer2, 2, old)}
				ev.Redis.DeadUnreadable = 1
			},
			want: func(d *DiscReport) {
				d.Verdict, d.RedisAvail, d.ExpectedAvail, d.DeadLetters, d.DeadUnits = VerdictDeadLetter, 5, 5, 2, 3
			},
			dead: 1},
		{name: "drift outranks dead letters",
			change: func(ev *evidence) {
				setAvail(ev, judgeDisc1, 9)
				ev.Redis.Discs[judgeDisc1].Bought[judgeCustomer] = 3
				ev.Redis.Dead = []model.Order{judgeOrder(1, judgeDisc1, judgeCustomer, 1, old)}
			},
			want: func(d *DiscReport) {
				d.Verdict, d.RedisAvail, d.ExpectedAvail, d.Drift, d.DeadLetters, d.DeadUnits = VerdictDrift, 9, 7, 2, 1, 1
			}},
		{name: "dead letters outrank stuck",
			change: func(ev *evidence) {
				setAvail(ev, judgeDisc1, 5)
				ev.Redis.Discs[judgeDisc1].Bought[judgeCustomer] = 5
				ev.Redis.Dead = []model.Order{judgeOrder(1, judgeDisc1, judgeCustomer, 1, old)}
				ev.Redis.Pending = []model.Order{judgeOrder(2, judgeDisc1, judgeCustomer, 2, old)}
			},
			want: func(d *DiscReport) {
				d.Verdict, d.RedisAvail, d.ExpectedAvail, d.PendingUnits, d.StuckPending = VerdictDeadLetter, 5, 5, 2, 1
				d.DeadLetters, d.DeadUnits = 1, 1
			}},
		{name: "each disc counts only its own orders; a disc removed since the list was read is left out",
			change: func(ev *evidence) {
				ev.Discs = []int64{judgeDisc1, judgeDisc2, 9}
				ev.Redis.Discs[judgeDisc2] = rsredis.DiscSnapshot{Present: true, Avail: 3, Version: 1, Bought: map[int64]int64{judgeCustomer: 1}}
				ev.Redis.Discs[9] = rsredis.DiscSnapshot{Present: true, Avail: 1, Version: 1, Bought: map[int64]int64{}}
				ev.Redis.Pending = []model.Order{judgeOrder(1, judgeDisc2, judgeCustomer, 1, recent)}
				ev.Ledger[judgeDisc2] = &pg.LedgerDisc{ID: judgeDisc2, Stock: 4, Version: 1, EventsSum: 4,
					Confirmed: map[int64]int64{}, After: map[int64]int64{}, CancelsAfter: map[int64]int64{}}
			},
			want: func(*DiscReport) {},
			more: []DiscReport{{DiscID: judgeDisc2, Partition: 1, Verdict: VerdictOK, RedisAvail: 3, ExpectedAvail: 3,
				PGStock: 4, LedgerStock: 4, PendingUnits: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := judgeStory()
			tt.change(&ev)
			d := judgeClean()
			tt.want(&d)
			want := verdicts{Discs: append([]DiscReport{d}, tt.more...), DeadUnreadable: tt.dead}
			if diff := cmp.Diff(want, judge(ev), cmp.AllowUnexported(verdicts{}, DiscReport{})); diff != "" {
				t.Errorf("judge (-want +got):\n%s", diff)
			}
		})
	}
}

func setAvail(ev *evidence, disc, avail int64) {
	d := ev.Redis.Discs[disc]
	d.Avail = avail
	ev.Redis.Discs[disc] = d
}

func TestJudgeLedger(t *testing.T) {
	ledger := map[int64]*pg.LedgerDisc{
		1: {ID: 1, Stock: 8, EventsSum: 10, OrdersSum: 2},
		2: {ID: 2, Stock: 7, EventsSum: 10, OrdersSum: 2},
		3: {ID: 3, Stock: -1, EventsSum: 1, OrdersSum: 2},
	}
	want := []DiscReport{
		{DiscID: 2, Verdict: VerdictLedger, PGStock: 7, LedgerStock: 8, Notes: []string{"postgres stock 7, ledger says 8"}},
		{DiscID: 3, Verdict: VerdictLedger, PGStock: -1, LedgerStock: -1, Notes: []string{"postgres stock -1, ledger says -1"}},
	}
	// Disc 4 was removed since the list was read.
	if diff := cmp.Diff(want, judgeLedger([]int64{1, 2, 3, 4}, ledger), cmp.AllowUnexported(DiscReport{})); diff != "" {
		t.Errorf("judgeLedger (-want +got):\n%s", diff)
	}
}

func TestPlanRepairs(t *testing.T) {
	rep := Report{Problems: []DiscReport{
		{DiscID: 1, Partition: 1, Verdict: VerdictDeadLetter},
		{DiscID: 5, Partition: 1, Verdict: VerdictDeadLetter}, // the same partition: requeued once
		{DiscID: 2, Partition: 2, Verdict: VerdictMissing, Drift: -10},
		{DiscID: 3, Partition: 3, Verdict: VerdictDrift, Drift: -3, versionAhead: true},
		{DiscID: 4, Partition: 0, Verdict: VerdictDrift, Drift: 7, Customers: []CustomerDrift{{CustomerID: 9, Redis: 3, Expected: 1}}},
		{DiscID: 6, Partition: 2, Verdict: VerdictLedger, Drift: -3}, // Postgres is the truth: left for a person
		{DiscID: 7, Partition: 3, Verdict: VerdictStuck},             // the relay's catch-up unsticks it
		{DiscID: 8, Partition: 0, Verdict: VerdictDrift, Drift: 0, Customers: []CustomerDrift{{CustomerID: 9, Redis: 0, Expected: 2}}},
	}}
	want := []repair{
		{kind: requeueDeadLetters, partition: 1},
		{kind: loadDisc, disc: 2},
		{kind: reloadDisc, disc: 3},
		{kind: adjustDisc, disc: 4, avail: -7, customers: map[int64]int64{9: -2}},
		{kind: adjustDisc, disc: 8, avail: 0, customers: map[int64]int64{9: 2}},
	}
	if diff := cmp.Diff(want, planRepairs(rep), cmp.AllowUnexported(repair{})); diff != "" {
		t.Errorf("planRepairs (-want +got):\n%s", diff)
	}
}

// partial is d as Redis holds it when it knows only some of the disc's buyers.
func partial(d rsredis.DiscSnapshot) rsredis.DiscSnapshot {
	d.Partial = true
	return d
}
