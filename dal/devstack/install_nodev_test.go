//go:build nodev

package devstack

import (
	"fmt"
	"strings"
	"testing"
)

// The production image is built with -tags nodev so that nothing in it runs a package manager as root. Missing
// server binaries must then come back as an error that says what to install, with nothing run or logged.
func TestNodevInstallsNothing(t *testing.T) {
	var logged []string
	logf := func(format string, args ...any) { logged = append(logged, fmt.Sprintf(format, args...)) }
	found := func() bool {
		t.Error("install looked for the binaries again, as it does only after installing them")
		return false
	}

	err := install([]string{"postgresql", "redis-server"}, found, logf)
	if err == nil {
		t.Fatal("install = nil in a nodev build, want an error naming the command to run")
	}
	if want := "apt-get install -y postgresql redis-server"; !strings.Contains(err.Error(), want) {
		t.Errorf("install error = %q, want it to name %q", err, want)
	}
	if len(logged) > 0 {
		t.Errorf("install logged %q in a nodev build, want nothing run", logged)
	}
}
