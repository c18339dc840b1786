package testenv

import (
	"testing"
	"time"
)

// Eventually polls cond until it holds and fails the test, saying what did not happen, once timeout has passed.
// It is the one way tests wait for something another goroutine or process does: no test sleeps a fixed time
// and hopes. cond is a func() bool, or a func() (bool, string) whose string notes what it saw; a failure then
// shows the last note.
func Eventually[C func() bool | func() (bool, string)](t testing.TB, timeout time.Duration, what string, cond C) {
	t.Helper()
	var check func() (bool, string)
	switch c := any(cond).(type) {
	case func() bool:
		check = func() (bool, string) { return c(), "" }
	case func() (bool, string):
		check = c
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, note := check()
		if ok {
			return
		}
		select {
		case <-deadline.C:
			if note != "" {
				t.Fatalf("after %v: %s (last: %s)", timeout, what, note)
			}
			t.Fatalf("after %v: %s", timeout, what)
		case <-tick.C:
		}
	}
}
