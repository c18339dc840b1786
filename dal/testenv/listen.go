package testenv

import (
	"net"
	"testing"
)

// Listen listens on a free port of 127.0.0.1 until the test ends; a test serves on it, or closes it at once to
// learn a free port for a process it starts.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on 127.0.0.1: %v", err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}
