package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
)

// The heap floor of serve's garbage collector.
//
// Go collects when the heap has grown GOGC% past what the last collection kept, and not before 4 MB. serve keeps
// a few MB live and makes its garbage per request, so under a launch's storm it collected every ~180 ms, and each
// cycle's marking held requests back on a busy core: a serve on one core answered sold-out refusals at p99
// 3.1–3.7 ms with GOGC=100 and 2.6–3.0 ms with GOGC=800 (four alternating pairs under wrk). A floor raises GOGC
// while the live heap is small, so that the heap may grow to the floor before a collection, and hands back Go's
// own rule once the live heap is half the floor or more: the most it costs is the floor's worth of memory.

// gcMinHeap is Go's minimum heap goal at GOGC=100 (runtime's defaultHeapMinimum), which Go scales by GOGC/100.
const gcMinHeap = 4 << 20

// gcPercentFor is the GOGC whose heap goal is at most floor bytes after a collection that kept live bytes of
// heap and scanned roots bytes of goroutine stacks and globals, and at least 100, Go's default. The goal is
// the larger of live + (live + roots) × GOGC/100 and the scaled minimum heap gcMinHeap × GOGC/100, so both
// must stay within the floor.
func gcPercentFor(live, roots, floor uint64) int {
	live = max(live, 1)
	if floor <= 2*live+roots || floor <= 2*gcMinHeap {
		return 100
	}
	p := min((floor-live)*100/(live+roots), floor*100/gcMinHeap)
	return int(max(p, 100))
}

// gcFloorHeld is set while a floor sets the process's GOGC: there is one GOGC per process, so one floor.
var gcFloorHeld atomic.Bool

// gcTick is the object whose collection says that a GC cycle ended (it holds a pointer so that Go's tiny
// allocator, which batches small pointer-free objects, does not keep it alive with a neighbour).
type gcTick struct{ _ *byte }

// keepGCFloor sets GOGC after every collection from what it kept, so that the next collection comes at floor
// bytes at the earliest, until stop, which gives back the GOGC it found. It does nothing, and stop neither, when
// floor is 0, when GOGC is set in the environment (the operator chose), or while another floor runs in the
// process; ok says whether it runs.
func keepGCFloor(floor uint64) (stop func(), ok bool) {
	if floor == 0 || os.Getenv("GOGC") != "" || !gcFloorHeld.CompareAndSwap(false, true) {
		return func() {}, false
	}
	var (
		mu      sync.Mutex
		stopped bool
		before  = debug.SetGCPercent(100) // what stop gives back
		percent = 100
		sample  = []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"}}
	)
	set := func() {
		metrics.Read(sample)
		var v [3]uint64
		for i, s := range sample {
			if s.Value.Kind() == metrics.KindUint64 {
				v[i] = s.Value.Uint64()
			}
		}
		if p := gcPercentFor(v[0], v[1]+v[2], floor); p != percent {
			debug.SetGCPercent(p)
			percent = p
		}
	}
	var arm func()
	arm = func() {
		runtime.AddCleanup(new(gcTick), func(struct{}) {
			mu.Lock()
			defer mu.Unlock()
			if stopped {
				return
			}
			set()
			arm()
		}, struct{}{})
	}
	mu.Lock()
	set()
	arm()
	mu.Unlock()
	return func() {
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			stopped = true
			debug.SetGCPercent(before)
			gcFloorHeld.Store(false)
		}
	}, true
}
