package console

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// lagMetric is the writer's histogram of the time from a reservation in Redis to its commit in Postgres.
const lagMetric = "recordshop_writer_lag_seconds"

// lagRing keeps a minute of one-second samples of the writer's lag histogram, read from the registry it is on,
// so the console shows the last minute's percentiles rather than those since the process started. The
// histogram counts only this process's writer: with `serve --no-writer` it stays empty.
type lagRing struct {
	reg prometheus.Gatherer

	mu      sync.Mutex
	ring    [ringLen]lagSample
	head, n int
}

type lagSample struct {
	count  uint64
	bounds []float64 // upper bounds of the buckets, seconds
	cum    []uint64  // cumulative count at each bound
}

// newLagRing starts the ring at zero, now: orders landed before the first sample count too.
func newLagRing(reg prometheus.Gatherer) *lagRing { return &lagRing{reg: reg, n: 1} }

// sample reads the histogram now. A registry without it (or none at all) leaves the ring as it is.
func (l *lagRing) sample(time.Time) {
	if l.reg == nil {
		return
	}
	families, err := l.reg.Gather()
	if err != nil {
		return
	}
	for _, f := range families {
		if f.GetName() != lagMetric || len(f.GetMetric()) == 0 {
			continue
		}
		h := f.GetMetric()[0].GetHistogram()
		s := lagSample{count: h.GetSampleCount()}
		for _, b := range h.GetBucket() {
			s.bounds = append(s.bounds, b.GetUpperBound())
			s.cum = append(s.cum, b.GetCumulativeCount())
		}
		l.mu.Lock()
		l.head = (l.head + 1) % ringLen
		l.ring[l.head] = s
		l.n = min(l.n+1, ringLen)
		l.mu.Unlock()
		return
	}
}

// lastMinute returns the orders landed over the last minute and the median and 99th percentile of their lag
// (nil without any).
func (l *lagRing) lastMinute() (landed uint64, p50, p99 *float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n < 2 {
		return 0, nil, nil
	}
	newest, oldest := l.ring[l.head], l.ring[(l.head-l.n+1+ringLen)%ringLen]
	landed = newest.count - oldest.count
	if oldest.cum == nil {
		oldest.cum = make([]uint64, len(newest.cum)) // the start: nothing landed yet
	}
	if landed == 0 || len(newest.cum) != len(oldest.cum) {
		return landed, nil, nil
	}
	cum := make([]uint64, len(newest.cum))
	for i := range cum {
		cum[i] = newest.cum[i] - oldest.cum[i]
	}
	a, b := histQuantile(newest.bounds, cum, landed, 0.5), histQuantile(newest.bounds, cum, landed, 0.99)
	return landed, &a, &b
}

// histQuantile estimates a quantile from cumulative bucket counts as Prometheus' histogram_quantile does:
// linearly within the bucket it falls in; past the last bound it reads as that bound.
func histQuantile(bounds []float64, cum []uint64, total uint64, q float64) float64 {
	rank := q * float64(total)
	lo, below := 0.0, uint64(0)
	for i, c := range cum {
		if float64(c) >= rank {
			in := c - below
			if in == 0 {
				return bounds[i]
			}
			return lo + (bounds[i]-lo)*(rank-float64(below))/float64(in)
		}
		lo, below = bounds[i], c
	}
	return lo
}
