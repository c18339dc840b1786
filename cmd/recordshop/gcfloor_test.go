package main

import (
	"runtime"
	"runtime/metrics"
	"testing"
	"time"
)

func TestGCPercentFor(t *testing.T) {
	const mb = 1 << 20
	cases := []struct {
		name               string
		live, roots, floor uint64
		want               int
	}{
		{"before the first collection", 0, 0, 64 * mb, 1600},
		{"Go's scaled minimum heap bounds a small live heap", 3 * mb, 0, 64 * mb, 1600},
		{"the live heap bounds a larger one", 10 * mb, 0, 64 * mb, 540},
		{"stacks and globals count as the heap does", 4 * mb, 1 * mb, 64 * mb, 1200},
		{"half the floor live: Go's own rule", 32 * mb, 0, 64 * mb, 100},
		{"half the floor with the roots: Go's own rule", 30 * mb, 4 * mb, 64 * mb, 100},
		{"more than the floor live", 300 * mb, 0, 64 * mb, 100},
		{"a floor within Go's minimum heap changes nothing", 1 * mb, 0, 8 * mb, 100},
		{"a large floor", 100 * mb, 0, 1024 * mb, 924},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := gcPercentFor(c.live, c.roots, c.floor)
			if got != c.want {
				t.Fatalf("gcPercentFor(%d MB, %d MB, %d MB) = %d, want %d", c.live/mb, c.roots/mb, c.floor/mb, got, c.want)
			}
			// Whatever it picks, the next collection comes at the floor at the latest, unless Go's default
			// would come later. Go's goal: live + (live + roots) × GOGC/100, at least the scaled minimum heap.
			live := max(c.live, 1)
			if goal := max(live+(live+c.roots)*uint64(got)/100, gcMinHeap*uint64(got)/100); got > 100 && goal > c.floor {
				t.Fatalf("GOGC %d puts the heap goal at %d bytes, past the floor %d", got, goal, c.floor)
			}
		})
	}
}

// gogc is the GOGC the runtime works with now.
func gogc() int64 {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// untilGOGC collects garbage until the runtime's GOGC satisfies ok (a floor sets it after a collection, on
// Go's cleanup goroutine), for at most 10 s.
func untilGOGC(t *testing.T, what string, ok func(int64) bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		runtime.GC()
		if g := gogc(); ok(g) {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("GOGC is %d after 10 s of collections, want %s", g, what)
		}
		runtime.Gosched()
	}
}

func TestGCFloorFollowsTheLiveHeap(t *testing.T) {
	t.Setenv("GOGC", "")
	before := gogc()
	stop, ok := keepGCFloor(64 << 20)
	if !ok {
		t.Fatal("keepGCFloor did not start")
	}
	defer stop()
	if _, again := keepGCFloor(64 << 20); again {
		t.Fatal("a second floor started while one runs: two would fight over the process's one GOGC")
	}

	untilGOGC(t, "above 200 with this test's few MB live", func(g int64) bool { return g > 200 })

	// With half the floor live, Go's own rule is back: the floor never makes the heap larger than Go would.
	held := make([]byte, 40<<20)
	untilGOGC(t, "100 with 40 MB live", func(g int64) bool { return g == 100 })
	runtime.KeepAlive(held)
	held = nil
	untilGOGC(t, "above 200 once the 40 MB are garbage", func(g int64) bool { return g > 200 })

	stop()
	if g := gogc(); g != before {
		t.Fatalf("GOGC after stop = %d, want %d as before the floor", g, before)
	}
	stop() // a second stop changes nothing
	if g := gogc(); g != before {
		t.Fatalf("GOGC after a second stop = %d, want %d", g, before)
	}
}

func TestGCFloorLeavesGOGCToTheOperator(t *testing.T) {
	t.Setenv("GOGC", "150")
	before := gogc()
	stop, ok := keepGCFloor(64 << 20)
	defer stop()
	if ok {
		t.Fatal("keepGCFloor ran although GOGC is set")
	}
	runtime.GC()
	if g := gogc(); g != before {
		t.Fatalf("GOGC = %d with the operator's GOGC set, want %d untouched", g, before)
	}
	if _, ok := keepGCFloor(0); ok {
		t.Fatal("keepGCFloor ran with floor 0 (off)")
	}
}
