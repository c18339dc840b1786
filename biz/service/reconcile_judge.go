package service

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/learecordshop/recordshop/dal/pg"
	rsredis "github.com/learecordshop/recordshop/dal/redis"
)

// verdicts is judge's answer for one look at some discs of one partition.
type verdicts struct {
	Discs          []DiscReport // one per disc the ledger has, in the order looked at
	DeadUnreadable int          // dead letters of the partition whose record could not be read
}

// units are the units of some orders of one disc: in all, per customer, and how many orders.
type units struct {
	total      int64
	byCustomer map[int64]int64
	count      int
}

func (u *units) add(customer, n int64) {
	if u.byCustomer == nil {
		u.byCustomer = map[int64]int64{}
	}
	u.total += n
	u.byCustomer[customer] += n
	u.count++
}

// judge is the verdict formula: what Redis must hold of each disc, given the ledger, and whether it does. It is
// pure: no context, no store, no clock (the evidence carries the stuck threshold as an instant).
//
// At the Redis snapshot (instant T, stream position L, disc version v):
//
//	expected avail = pg.stock - (deltas of events after v) + (units of orders in Postgres reserved after L)
//	                 - (units pending at T and not yet in Postgres) - (units dead-lettered at T)
//	expected units of customer c = confirmed(c) - after(c) + pending(c) + dead(c) + (cancels after v)(c)
//
// The Postgres snapshot is taken after T; the "after L" and "pending and not yet in Postgres" terms account
// for the orders the writer moved in between, which is what keeps a check under full load free of false drift.
func judge(ev evidence) verdicts {
	pending := map[int64]units{} // confirmed in Redis at T, and not in Postgres at the ledger read
	dead := map[int64]units{}
	stuck := map[int64]int{}
	for _, o := range ev.Redis.Pending {
		if o.ReservedAt.Before(ev.StuckBefore) {
			stuck[o.DiscID]++
		}
		if !ev.Persisted[o.ID] {
			u := pending[o.DiscID]
			u.add(o.CustomerID, int64(o.Quantity))
			pending[o.DiscID] = u
		}
	}
	for _, o := range ev.Redis.Dead {
		u := dead[o.DiscID]
		u.add(o.CustomerID, int64(o.Quantity))
		dead[o.DiscID] = u
	}
	out := verdicts{DeadUnreadable: ev.Redis.DeadUnreadable}
	for _, id := range ev.Discs {
		l, ok := ev.Ledger[id]
		if !ok {
			continue // removed since the list was read
		}
		d := judgeDisc(ev.Redis.Discs[id], *l, pending[id], dead[id], stuck[id])
		d.DiscID, d.Partition = id, ev.Redis.Partition
		out.Discs = append(out.Discs, d)
	}
	return out
}

// judgeDisc judges one disc: rd is Redis' copy at T, l the ledger, pu and du its pending and dead-lettered
// units, stuckPending how many of its pending orders are older than the threshold.
func judgeDisc(rd rsredis.DiscSnapshot, l pg.LedgerDisc, pu, du units, stuckPending int) DiscReport {
	d := DiscReport{RedisAvail: rd.Avail, PGStock: l.Stock, PendingUnits: pu.total, Unapplied: l.EventsAfter,
		LedgerStock: l.EventsSum - l.OrdersSum, DeadLetters: du.count, DeadUnits: du.total,
		StuckPending: stuckPending, StuckEvents: l.OldUnapplied, Verdict: VerdictOK}
	d.ExpectedAvail = l.Stock - l.EventsAfter + l.AfterTotal - pu.total - du.total
	d.Drift = d.RedisAvail - d.ExpectedAvail
	switch {
	case !ledgerHolds(l):
		d.Verdict = VerdictLedger
		d.Notes = append(d.Notes, ledgerNote(l))
	case !rd.Present && l.Archived:
		// Redis need not hold a disc that is off sale.
	case !rd.Present && l.NeverApplied:
		// Created in Postgres, and the relay has not brought it to Redis yet (`recordshop seed` on a live
		// shop, or a create whose process died after commit): in flight, until it is old enough to be stuck.
		d.ExpectedAvail, d.Drift = 0, 0
		d.Notes = append(d.Notes, "not in redis yet: its stock events wait for the relay")
		if d.StuckEvents > 0 {
			d.Verdict = VerdictStuck
		}
	case !rd.Present:
		// Nothing in Redis to compare by stream position: the disc needs all its stock, less what is
		// confirmed and not yet in Postgres.
		d.Verdict = VerdictMissing
		d.ExpectedAvail = l.Stock - pu.total - du.total
		d.Drift = -d.ExpectedAvail
		d.Notes = append(d.Notes, "not in redis")
	case rd.Version > l.Version:
		// Redis applied a guarded change whose transaction has not committed yet: look again. If it stays
		// so, the transaction rolled back after the guard, and only a reload puts Redis back in step.
		d.Verdict = VerdictDrift
		d.versionAhead = true
		d.Notes = append(d.Notes, fmt.Sprintf("redis at version %d, postgres at %d", rd.Version, l.Version))
	default:
		if l.Limit > 0 { // Redis counts a customer's units only where a limit needs them
			d.Customers = customerDrift(rd.Bought, rd.Partial, l, pu, du)
		}
		switch {
		case d.Drift != 0 || len(d.Customers) > 0:
			d.Verdict = VerdictDrift
		case du.count > 0:
			d.Verdict = VerdictDeadLetter
		case d.StuckPending > 0 || d.StuckEvents > 0:
			d.Verdict = VerdictStuck
		}
	}
	return d
}

// customerDrift returns, in customer order, every customer whose units in Redis differ from what the ledger,
// the pending and dead-lettered orders and the unapplied cancels say they must be. Where Redis holds only some
// buyers (partial), the others' units are Postgres' alone, and only those Redis holds or must hold (pending
// and dead-lettered orders) are compared.
func customerDrift(bought map[int64]int64, partial bool, l pg.LedgerDisc, pu, du units) []CustomerDrift {
	customers := map[int64]bool{}
	sources := []map[int64]int64{bought, l.Confirmed, l.After, pu.byCustomer, du.byCustomer, l.CancelsAfter}
	if partial {
		sources = []map[int64]int64{bought, pu.byCustomer, du.byCustomer}
	}
	for _, m := range sources {
		for c := range m {
			customers[c] = true
		}
	}
	var out []CustomerDrift
	for c := range customers {
		want := l.Confirmed[c] - l.After[c] + pu.byCustomer[c] + du.byCustomer[c] + l.CancelsAfter[c]
		if got := bought[c]; got != want {
			out = append(out, CustomerDrift{CustomerID: c, Redis: got, Expected: want})
		}
	}
	slices.SortFunc(out, func(a, b CustomerDrift) int { return cmp.Compare(a.CustomerID, b.CustomerID) })
	return out
}

// ledgerHolds is Postgres' own identity: stock = sum(stock_events.delta) - sum(orders.quantity), never negative,
// and (in a full check) running totals that equal the recount of the rows.
func ledgerHolds(l pg.LedgerDisc) bool {
	return l.Stock == l.EventsSum-l.OrdersSum && l.Stock >= 0 && len(l.TotalsOff) == 0
}

func ledgerNote(l pg.LedgerDisc) string {
	note := fmt.Sprintf("postgres stock %d, ledger says %d", l.Stock, l.EventsSum-l.OrdersSum)
	for _, off := range l.TotalsOff {
		note += "; running total off: " + off
	}
	return note
}

// judgeLedger is the verdict of a deployment without Redis: a disc is a problem only when its ledger breaks.
func judgeLedger(ids []int64, ledger map[int64]*pg.LedgerDisc) []DiscReport {
	var out []DiscReport
	for _, id := range ids {
		l, ok := ledger[id]
		if !ok || ledgerHolds(*l) {
			continue
		}
		out = append(out, DiscReport{DiscID: id, Verdict: VerdictLedger, PGStock: l.Stock,
			LedgerStock: l.EventsSum - l.OrdersSum, Notes: []string{ledgerNote(*l)}})
	}
	return out
}
