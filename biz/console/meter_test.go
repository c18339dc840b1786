package console

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var launch = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func TestMeterCountsEachSecondOfTheLastMinute(t *testing.T) {
	m := NewMeter(func() time.Time { return launch })
	m.Observe(7, http.StatusCreated, false, 0) // counting starts with the disc's first order, which counts
	t0 := time.Now()
	m.Sample(t0)
	for range 3 {
		m.Observe(7, http.StatusCreated, false, 400*time.Microsecond)
	}
	m.Observe(7, http.StatusConflict, false, 200*time.Microsecond) // over the limit: not sold out
	m.Sample(t0.Add(time.Second))
	m.Observe(7, http.StatusConflict, true, 100*time.Microsecond)
	m.Observe(7, http.StatusServiceUnavailable, false, time.Second)
	m.Observe(7, http.StatusOK, false, 300*time.Microsecond) // a replay: an order, neither 201, 409 nor 503
	m.Sample(t0.Add(2 * time.Second))

	r, ok := m.Rates(7)
	if !ok {
		t.Fatal("no rates for a disc with orders")
	}
	if r.Seconds < 2 || r.Seconds > 3 || r.Orders != 8 || r.Created != 4 || r.Conflict != 2 || r.Unavailable != 1 {
		t.Errorf("over %vs: %d orders, %d/%d/%d 201/409/503; want 2 s and a moment: 8 orders, 4/2/1", r.Seconds, r.Orders, r.Created, r.Conflict, r.Unavailable)
	}
	if diff := cmp.Diff([][4]uint64{{1, 1, 0, 0}, {4, 3, 1, 0}, {3, 0, 1, 1}}, r.PerSecond); diff != "" {
		t.Errorf("per second (-want +got):\n%s", diff)
	}
	if !r.SoldOutAt.Equal(launch) {
		t.Errorf("sold out at %v, want the first sold-out-with-none-left answer's time %v", r.SoldOutAt, launch)
	}
	// Of the 8 answers, 7 took 400 µs or less and one took a second: the median is among the fast ones,
	// the 99th percentile the slow one.
	if r.P50 <= 0 || r.P50 > 500*time.Microsecond || r.P99 < 750*time.Millisecond || r.P99 > time.Second {
		t.Errorf("p50 %v, p99 %v; want p50 within (0, 500µs] and p99 within [750ms, 1s]", r.P50, r.P99)
	}
}

func TestMeterKeepsAMinute(t *testing.T) {
	m := NewMeter(time.Now)
	t0 := time.Now()
	m.Observe(1, http.StatusCreated, false, time.Millisecond)
	for s := range 100 {
		m.Observe(1, http.StatusCreated, false, time.Millisecond)
		m.Sample(t0.Add(time.Duration(s) * time.Second))
	}
	r, _ := m.Rates(1)
	if r.Seconds != 60 || len(r.PerSecond) != 60 || r.Orders != 60 {
		t.Errorf("%v s, %d seconds of series, %d orders; want the last minute: 60 s, 60, 60", r.Seconds, len(r.PerSecond), r.Orders)
	}
}

func TestMeterSoldOutCanBeCleared(t *testing.T) {
	at := launch
	m := NewMeter(func() time.Time { return at })
	m.Observe(1, http.StatusConflict, true, time.Millisecond)
	at = launch.Add(time.Minute)
	m.Observe(1, http.StatusConflict, true, time.Millisecond)
	if r, _ := m.Rates(1); !r.SoldOutAt.Equal(launch) {
		t.Fatalf("sold out at %v, want the first answer's %v", r.SoldOutAt, launch)
	}
	m.ClearSoldOut(1, launch) // seen with units at the instant of the mark: it is not older than the look
	if r, _ := m.Rates(1); !r.SoldOutAt.Equal(launch) {
		t.Fatalf("sold out at %v: a mark not older than the look that saw units was cleared", r.SoldOutAt)
	}
	m.ClearSoldOut(1, at) // restocked, and seen with units after the mark
	if r, _ := m.Rates(1); !r.SoldOutAt.IsZero() {
		t.Fatalf("sold out at %v after a clear, want none", r.SoldOutAt)
	}
	m.Observe(1, http.StatusConflict, true, time.Millisecond)
	if r, _ := m.Rates(1); !r.SoldOutAt.Equal(at) {
		t.Errorf("sold out at %v, want the new sell-out's %v", r.SoldOutAt, at)
	}
}

func TestMeterCountsOnlyDiscsThatExistAndForgetsIdleOnes(t *testing.T) {
	m := NewMeter(time.Now)
	m.Observe(404404, http.StatusNotFound, false, time.Millisecond)
	if _, ok := m.Rates(404404); ok || len(*m.discs.Load()) != 0 {
		t.Fatal("an order of an unknown disc (404) made the meter count it")
	}
	for id := range int64(MaxMeteredDiscs + 10) {
		m.Observe(id+1, http.StatusConflict, false, time.Millisecond)
	}
	if n := len(*m.discs.Load()); n != MaxMeteredDiscs {
		t.Fatalf("%d discs counted, want the bound %d", n, MaxMeteredDiscs)
	}
	t0 := time.Now()
	m.Sample(t0)
	m.Observe(1, http.StatusCreated, false, time.Millisecond)
	m.Sample(t0.Add(idleAfter + time.Second))
	if n := len(*m.discs.Load()); n != 1 {
		t.Fatalf("%d discs counted after %v, want only the one still ordered", n, idleAfter)
	}
	if got := m.Active(); !cmp.Equal(got, []int64{1}) {
		t.Errorf("active discs %v, want [1]", got)
	}
}

// The order path's share of the console: no allocation, whichever answer.
func TestObserveAllocatesNothing(t *testing.T) {
	m := NewMeter(time.Now)
	m.Observe(42, http.StatusCreated, false, time.Millisecond)
	for _, status := range []int{http.StatusCreated, http.StatusConflict, http.StatusServiceUnavailable, http.StatusOK} {
		if n := testing.AllocsPerRun(1000, func() { m.Observe(42, status, status == http.StatusConflict, 700*time.Microsecond) }); n != 0 {
			t.Errorf("Observe of a %d allocates %v times per order, want 0", status, n)
		}
	}
}

// Concurrent orders lose no count (go test -race checks the rest).
func TestObserveConcurrently(t *testing.T) {
	m := NewMeter(time.Now)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				m.Observe(9, http.StatusCreated, false, time.Millisecond)
			}
		})
	}
	t0 := time.Now()
	m.Sample(t0)
	wg.Wait()
	m.Sample(t0.Add(time.Second))
	d := (*m.discs.Load())[9]
	if got := d.answers[classCreated].Load(); got != 8000 {
		t.Errorf("%d answers counted, want 8000", got)
	}
}

func TestQuantile(t *testing.T) {
	var h [buckets]uint64
	if q := quantile(h, 0.5); q != 0 {
		t.Errorf("quantile of nothing = %v, want 0", q)
	}
	h[bucketOf(time.Millisecond)] = 100 // all in (750µs, 1ms]
	if q := quantile(h, 0.5); q <= 750*time.Microsecond || q > time.Millisecond {
		t.Errorf("median %v, want within (750µs, 1ms]", q)
	}
	h[buckets-1] = 100 // as many slower than the last bound
	if q := quantile(h, 0.99); q != latencyBounds[len(latencyBounds)-1] {
		t.Errorf("p99 %v, want the last bound %v for answers past it", q, latencyBounds[len(latencyBounds)-1])
	}
}

// BenchmarkObserve is the console's cost on the order path: one order answered, counted from many goroutines
// at once into the same disc, as a launch does.
func BenchmarkObserve(b *testing.B) {
	m := NewMeter(time.Now)
	m.Observe(42, http.StatusCreated, false, time.Millisecond)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Observe(42, http.StatusCreated, false, 800*time.Microsecond)
		}
	})
}
