package service

import (
	"sync"
	"testing"
)

func TestCustomerSet(t *testing.T) {
	var s customerSet
	ids := []int64{1, 63, 64, 65, 1000, 1_000_003}
	for _, id := range ids {
		if s.has(id) {
			t.Fatalf("empty set has %d", id)
		}
		s.add(id)
	}
	for _, id := range ids {
		if !s.has(id) {
			t.Fatalf("set lost %d", id)
		}
	}
	for _, id := range []int64{0, -5, 2, 62, 66, 999, 1_000_002, 1 << 40} {
		if s.has(id) {
			t.Fatalf("set has %d, never added", id)
		}
	}
	var wg sync.WaitGroup // concurrent adds and reads, for the race detector
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int64(0); i < 2000; i++ {
				id := i*8 + int64(g) + 2_000_000
				s.add(id)
				if !s.has(id) {
					t.Errorf("lost %d", id)
				}
			}
		}()
	}
	wg.Wait()
}
