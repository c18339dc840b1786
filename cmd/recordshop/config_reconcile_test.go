package main

import (
	"strings"
	"testing"
	"time"
)

// The shop's own reconcile check: off for serve unless asked, every 30 s for dev unless told otherwise (0
// turns it off there too), env then flag, and an interval under a second refused.
func TestConfigReconcileEvery(t *testing.T) {
	tests := []struct {
		cmd   string
		env   map[string]string
		flags []string
		want  time.Duration
	}{
		{"serve", nil, nil, 0},
		{"serve", map[string]string{"RS_RECONCILE_EVERY": "1m"}, nil, time.Minute},
		{"serve", map[string]string{"RS_RECONCILE_EVERY": "1m"}, []string{"--reconcile-every", "15s"}, 15 * time.Second},
		{"dev", nil, nil, devReconcileEvery},
		{"dev", map[string]string{"RS_RECONCILE_EVERY": "0"}, nil, 0},
		{"dev", nil, []string{"--reconcile-every", "0"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.cmd+" "+strings.Join(tt.flags, " ")+" "+tt.env["RS_RECONCILE_EVERY"], func(t *testing.T) {
			cfg, fs, err := parseConfig(tt.cmd, env(tt.env))
			if err == nil {
				err = fs.Parse(tt.flags)
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.ReconcileEvery != tt.want {
				t.Errorf("every %v, want %v", cfg.ReconcileEvery, tt.want)
			}
			if got := cfg.deps(nil, nil, nil, nil).ReconcileEvery; got != tt.want {
				t.Errorf("the shop is given %v, want %v", got, tt.want)
			}
		})
	}
	if _, _, err := parseConfig("serve", env(map[string]string{"RS_RECONCILE_EVERY": "often"})); err == nil {
		t.Error("RS_RECONCILE_EVERY=often was accepted")
	}
	for _, bad := range []time.Duration{-time.Second, 100 * time.Millisecond} {
		c := defaultConfig()
		c.ReconcileEvery = bad
		if err := c.validate(false, false, false); err == nil || !strings.Contains(err.Error(), "RS_RECONCILE_EVERY") {
			t.Errorf("every %v: err %v, want one naming RS_RECONCILE_EVERY", bad, err)
		}
	}
}
