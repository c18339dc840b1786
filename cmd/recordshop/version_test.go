package main

import (
	"context"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// TestVersionText: the build information the go command stamps (module version, VCS revision, time and state,
// Go release) is what `recordshop version` prints.
func TestVersionText(t *testing.T) {
	stamped := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/learecordshop/recordshop", Version: "v0.0.0-20261202002800-204e4721c0ff+dirty"},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "204e4721c0ffee0123456789abcdef0123456789"},
			{Key: "vcs.time", Value: "2026-12-02T00:28:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	clean := *stamped
	clean.Settings = []debug.BuildSetting{{Key: "vcs.revision", Value: "204e4721c0ffee0123456789abcdef0123456789"}, {Key: "vcs.modified", Value: "false"}}
	unstamped := *stamped
	unstamped.Main.Version, unstamped.Settings = "(devel)", nil
	tests := []struct {
		name  string
		info  *debug.BuildInfo
		ok    bool
		has   []string
		lacks []string
	}{
		{"a build from a modified work tree", stamped, true, []string{
			"recordshop v0.0.0-20261202002800-204e4721c0ff+dirty\n",
			"revision:  204e4721c0ffee0123456789abcdef0123456789\n",
			"modified:  true (built from a work tree with uncommitted changes)\n",
			"committed: 2026-12-02T00:28:00Z\n",
			"go:        go1.26.8 " + runtime.GOOS + "/" + runtime.GOARCH + "\n",
		}, nil},
		{"a clean build", &clean, true, []string{"modified:  false\n"}, []string{"uncommitted"}},
		{"no VCS information", &unstamped, true, []string{"recordshop (devel)\n", "revision:  unknown"}, []string{"modified:"}},
		{"no build information", nil, false, []string{"no build information", "go:        " + runtime.Version()}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := versionText(tt.info, tt.ok)
			for _, s := range tt.has {
				if !strings.Contains(got, s) {
					t.Errorf("missing %q in:\n%s", s, got)
				}
			}
			for _, s := range tt.lacks {
				if strings.Contains(got, s) {
					t.Errorf("unexpected %q in:\n%s", s, got)
				}
			}
		})
	}
}

// TestVersionCommand: `recordshop version` and `recordshop --version` print this binary's build and exit 0.
func TestVersionCommand(t *testing.T) {
	info, ok := debug.ReadBuildInfo()
	want := versionText(info, ok)
	for _, arg := range []string{"version", "--version", "-version"} {
		var stdout, stderr strings.Builder
		if err := run(context.Background(), []string{arg}, env(nil), &stdout, &stderr); err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		if stdout.String() != want || stderr.Len() != 0 {
			t.Errorf("%s printed %q (stderr %q); want %q", arg, stdout.String(), stderr.String(), want)
		}
	}
	if err := run(context.Background(), []string{"version", "extra"}, env(nil), &strings.Builder{}, &strings.Builder{}); err == nil {
		t.Error("version with an argument was accepted")
	}
}
