package testenv

import (
	"testing"
	"time"
)

// Eventually polls cond until it holds and fails the test, saying what did not happen, once timeout has passed.
// It is the one way tests wait for something another goroutine or process does: no test sleeps a fixed time
// and hopes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("after %v: %s", timeout, what)
		case <-tick.C:
		}
	}
}
