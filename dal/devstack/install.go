//go:build !nodev

package devstack

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// install installs pkgs with apt-get when we are root on Debian or Ubuntu; otherwise its error names the command
// to run. found reports whether the binaries are there now: another process may have installed them while we
// waited for the lock, an exclusive flock in os.TempDir() that keeps parallel test processes from running apt-get
// at once.
//
// This is the one place the dev stack changes the machine, as root; a build with -tags nodev (the production
// image) leaves it out (install_nodev.go).
func install(pkgs []string, found func() bool, logf func(string, ...any)) error {
	cmdline := installCommand(pkgs)
	_, aptErr := exec.LookPath("apt-get")
	_, debErr := os.Stat("/etc/debian_version")
	if os.Geteuid() != 0 || aptErr != nil || debErr != nil {
		return fmt.Errorf("%s not found; install with: sudo apt-get update && sudo %s",
			strings.Join(pkgs, " and "), cmdline)
	}

	unlock, err := lockFile(filepath.Join(os.TempDir(), "recordshop-devstack-install.lock"))
	if err != nil {
		return err
	}
	defer unlock()
	if found() {
		return nil
	}
	for _, args := range [][]string{{"update"}, append([]string{"install", "-y"}, pkgs...)} {
		logf("devstack: apt-get %s", strings.Join(args, " "))
		// Our lock only orders our own processes; anything else using apt is waited for, not failed on.
		cmd := exec.Command("apt-get", append([]string{"-o", "DPkg::Lock::Timeout=300"}, args...)...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get %s: %w\n%s\nrun by hand: apt-get update && %s",
				strings.Join(args, " "), err, tail(out), cmdline)
		}
	}
	return nil
}

// lockFile takes an exclusive flock on path and returns the function that releases it.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
