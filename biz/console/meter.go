package console

import (
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// The meter counts the answers of POST /v1/orders per disc on the order path itself, so its cost there is what
// matters: two atomic adds per order (its answer's class and its latency bucket) into counters that only
// grow, and one atomic load of the disc table. No lock, no allocation, no clock beyond the latency the caller
// measured. Once a second the sampler copies every disc's counters into a ring of 61 samples, and the rates
// and percentiles of the last minute are differences between two samples: the order path never resets or
// rotates anything.

// Answer classes counted per disc. Every order is counted in the latency histogram; its sum is the orders.
const (
	classCreated     = iota // 201: confirmed
	classConflict           // 409: sold out, over the limit, not on sale yet
	classUnavailable        // 503: shed (backlog bound) or a store too slow
	classes
)

// latencyBounds are the upper bounds of the latency buckets, from 50 µs to 2 s; the last bucket holds
// everything slower. Percentiles are read from them, so they are close together where the order path answers.
var latencyBounds = [...]time.Duration{
	50 * time.Microsecond, 100 * time.Microsecond, 200 * time.Microsecond, 300 * time.Microsecond,
	500 * time.Microsecond, 750 * time.Microsecond, time.Millisecond, 1500 * time.Microsecond,
	2 * time.Millisecond, 3 * time.Millisecond, 5 * time.Millisecond, 7500 * time.Microsecond,
	10 * time.Millisecond, 15 * time.Millisecond, 20 * time.Millisecond, 30 * time.Millisecond,
	50 * time.Millisecond, 75 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2 * time.Second,
}

const buckets = len(latencyBounds) + 1

// ringLen is how many one-second samples a disc keeps: a minute of differences.
const ringLen = 61

// MaxMeteredDiscs bounds the discs the meter counts at once. A disc is counted from its first order that named
// a disc the shop has; one without an order for idleAfter is forgotten, so the bound is on the discs being
// bought within minutes of each other, which a launch never comes near.
const MaxMeteredDiscs = 512

// idleAfter is how long a disc goes without an order before the meter forgets it.
const idleAfter = 10 * time.Minute

// Meter counts the answers of the order path per disc.
type Meter struct {
	discs atomic.Pointer[map[int64]*discMeter] // replaced whole (copy on write) when a disc comes or goes
	mu    sync.Mutex                           // serialises those replacements, and the samples
	now   func() time.Time                     // the shop's clock, for "sold out at"
}

// discMeter is one disc's counters (written by the order path) and samples (written by the sampler).
type discMeter struct {
	answers   [classes]atomic.Uint64
	latency   [buckets]atomic.Uint64
	soldOutAt atomic.Int64 // unix nanoseconds of the first "sold out, none left" answer; 0: none since cleared

	// Under Meter.mu.
	ring       [ringLen]sample
	head, n    int // the newest sample is ring[head]; n samples are kept
	lastActive time.Time
}

// sample is a disc's counters at one instant.
type sample struct {
	at      time.Time // the monotonic clock
	answers [classes]uint64
	latency [buckets]uint64
}

// NewMeter returns a meter that stamps "sold out at" with now.
func NewMeter(now func() time.Time) *Meter {
	m := &Meter{now: now}
	m.discs.Store(&map[int64]*discMeter{})
	return m
}

// Observe counts one answer of POST /v1/orders for discID: its status, whether it was "sold out" with no unit
// left, and how long it took. It is the order path's only cost of the console. Answers that name no disc the
// shop has (404) do not make the meter count a new disc.
func (m *Meter) Observe(discID int64, status int, soldOutNoneLeft bool, took time.Duration) {
	if m == nil {
		return // a Handler built without a console (tests that only list the routes)
	}
	d := (*m.discs.Load())[discID]
	if d == nil {
		if status == http.StatusNotFound {
			return
		}
		if d = m.add(discID); d == nil {
			return
		}
	}
	switch status {
	case http.StatusCreated:
		d.answers[classCreated].Add(1)
	case http.StatusConflict:
		d.answers[classConflict].Add(1)
		if soldOutNoneLeft && d.soldOutAt.Load() == 0 {
			d.soldOutAt.CompareAndSwap(0, m.now().UnixNano())
		}
	case http.StatusServiceUnavailable:
		d.answers[classUnavailable].Add(1)
	}
	d.latency[bucketOf(took)].Add(1)
}

func bucketOf(took time.Duration) int {
	for i, b := range latencyBounds {
		if took <= b {
			return i
		}
	}
	return buckets - 1
}

// add starts counting a disc (once per disc: the order path allocates nothing else), unless the meter is full.
func (m *Meter) add(discID int64) *discMeter {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := *m.discs.Load()
	if d := cur[discID]; d != nil {
		return d // another order added it first
	}
	if len(cur) >= MaxMeteredDiscs {
		return nil
	}
	next := make(map[int64]*discMeter, len(cur)+1)
	for id, d := range cur {
		next[id] = d
	}
	// The ring starts with the counters at zero, now: the orders before the sampler's next turn count too.
	start := time.Now()
	d := &discMeter{lastActive: start, n: 1}
	d.ring[0].at = start
	next[discID] = d
	m.discs.Store(&next)
	return d
}

// ClearSoldOut forgets a disc's "sold out at" if it was marked before `before`: the disc was seen with units
// again (a restock, a cancel) at that instant, and its next sell-out is a new one. A mark made since is of a
// sell-out after that look, and stays.
func (m *Meter) ClearSoldOut(discID int64, before time.Time) {
	d := (*m.discs.Load())[discID]
	if d == nil {
		return
	}
	if at := d.soldOutAt.Load(); at != 0 && at < before.UnixNano() {
		d.soldOutAt.CompareAndSwap(at, 0)
	}
}

// Sample copies every disc's counters into its ring, stamped at (the monotonic clock), and forgets the discs
// without an order for idleAfter. The sampler calls it once a second.
func (m *Meter) Sample(at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := *m.discs.Load()
	var idle []int64
	for id, d := range cur {
		var s sample
		s.at = at
		for i := range d.answers {
			s.answers[i] = d.answers[i].Load()
		}
		for i := range d.latency {
			s.latency[i] = d.latency[i].Load()
		}
		if d.n > 0 && s.latency != d.ring[d.head].latency {
			d.lastActive = at
		}
		d.head = (d.head + 1) % ringLen
		d.ring[d.head] = s
		d.n = min(d.n+1, ringLen)
		if at.Sub(d.lastActive) > idleAfter {
			idle = append(idle, id)
		}
	}
	if len(idle) == 0 {
		return
	}
	next := make(map[int64]*discMeter, len(cur))
	for id, d := range cur {
		next[id] = d
	}
	for _, id := range idle {
		delete(next, id)
	}
	m.discs.Store(&next)
}

// Rates are a disc's orders over the last minute (or since it was first counted, when that is less).
type Rates struct {
	Seconds     float64 // the span the rates cover
	Orders      uint64  // answers of every kind
	Created     uint64  // 201
	Conflict    uint64  // 409
	Unavailable uint64  // 503
	P50, P99    time.Duration
	// PerSecond holds, oldest first, the answers of each whole second of the span: orders, 201, 409, 503.
	PerSecond [][4]uint64
	// SoldOutAt is when Redis first answered this process "sold out" with no unit left (zero: not since it
	// was last cleared).
	SoldOutAt time.Time
}

// Rates returns a disc's rates; ok is false when the meter does not count it (no order since it was
// forgotten) or has fewer than two samples of it.
func (m *Meter) Rates(discID int64) (r Rates, ok bool) {
	d := (*m.discs.Load())[discID]
	if d == nil {
		return Rates{}, false
	}
	if at := d.soldOutAt.Load(); at != 0 {
		r.SoldOutAt = time.Unix(0, at)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if d.n < 2 {
		return r, false
	}
	newest, oldest := d.ring[d.head], d.ring[(d.head-d.n+1+ringLen)%ringLen]
	r.Seconds = newest.at.Sub(oldest.at).Seconds()
	r.Created = newest.answers[classCreated] - oldest.answers[classCreated]
	r.Conflict = newest.answers[classConflict] - oldest.answers[classConflict]
	r.Unavailable = newest.answers[classUnavailable] - oldest.answers[classUnavailable]
	var hist [buckets]uint64
	for i := range hist {
		hist[i] = newest.latency[i] - oldest.latency[i]
		r.Orders += hist[i]
	}
	r.P50, r.P99 = quantile(hist, 0.50), quantile(hist, 0.99)
	r.PerSecond = make([][4]uint64, 0, d.n-1)
	for k := d.n - 1; k >= 1; k-- {
		a, b := d.ring[(d.head-k+ringLen)%ringLen], d.ring[(d.head-k+1+ringLen)%ringLen]
		var orders uint64
		for i := range b.latency {
			orders += b.latency[i] - a.latency[i]
		}
		r.PerSecond = append(r.PerSecond, [4]uint64{orders, b.answers[classCreated] - a.answers[classCreated],
			b.answers[classConflict] - a.answers[classConflict], b.answers[classUnavailable] - a.answers[classUnavailable]})
	}
	return r, true
}

// Active returns the discs with an order in the last minute.
func (m *Meter) Active() []int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []int64
	for id, d := range *m.discs.Load() {
		if d.n >= 1 && d.ring[d.head].at.Sub(d.lastActive) <= time.Minute {
			out = append(out, id)
		}
	}
	return out
}

// quantile estimates the q-quantile of a latency histogram, interpolating within its bucket; 0 when empty.
// The last bucket has no upper bound, so a quantile that falls there reads as its lower bound.
func quantile(hist [buckets]uint64, q float64) time.Duration {
	var total uint64
	for _, n := range hist {
		total += n
	}
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	var seen float64
	for i, n := range hist {
		if n == 0 || seen+float64(n) < rank {
			seen += float64(n)
			continue
		}
		var lo time.Duration
		if i > 0 {
			lo = latencyBounds[i-1]
		}
		if i == len(latencyBounds) {
			return lo
		}
		frac := math.Max(0, (rank-seen)/float64(n))
		return lo + time.Duration(frac*float64(latencyBounds[i]-lo))
	}
	return latencyBounds[len(latencyBounds)-1]
}
