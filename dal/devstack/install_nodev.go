//go:build nodev

package devstack

import (
	"fmt"
	"strings"
)

// install, in a build with -tags nodev (the production image), installs nothing: that build never runs a
// package manager, as root or otherwise. Its error names the command a person can run instead.
func install(pkgs []string, _ func() bool, _ func(string, ...any)) error {
	return fmt.Errorf("%s not found, and this build (-tags nodev) installs nothing; install with: "+
		"sudo apt-get update && sudo %s", strings.Join(pkgs, " and "), installCommand(pkgs))
}
