package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestReconcileExitCodes runs `recordshop reconcile` as operators and cron do and checks its exit codes:
// 0 clean, 1 drift found, 2 could not check.
func TestReconcileExitCodes(t *testing.T) {
	e := newFaultEnv(t)
	e.startShopInProcess(e.rdb, true)
	disc := e.createLaunchDisc()
	reconcile := e.reconcile

	if code, out := reconcile(nil); code != 0 || !strings.Contains(out, "clean:") {
		t.Fatalf("agreeing stores: exit %d, %s; want 0 and a clean summary", code, out)
	}
	if err := e.rdb.HIncrBy(context.Background(), e.keys.Disc(disc), "avail", 5).Err(); err != nil {
		t.Fatal(err)
	}
	code, out := reconcile(nil, "--json")
	var rep struct {
		Clean    bool `json:"clean"`
		Problems []struct {
			DiscID  int64  `json:"disc_id"`
			Drift   int64  `json:"drift"`
			Verdict string `json:"verdict"`
		} `json:"problems"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json output %q: %v", out, err)
	}
	if code != 1 || rep.Clean || len(rep.Problems) != 1 || rep.Problems[0].DiscID != disc || rep.Problems[0].Drift != 5 {
		t.Fatalf("tampered stock: exit %d, %+v; want 1 and disc %d drifting by +5", code, rep, disc)
	}
	if code, out := reconcile(nil); code != 1 || !strings.Contains(out, fmt.Sprintf("%d", disc)) || !strings.Contains(out, "drift") {
		t.Fatalf("table of a drift: exit %d, %s", code, out)
	}
	if code, out := reconcile(nil, "--fix"); code != 0 || !strings.Contains(out, "fixed: disc") {
		t.Fatalf("--fix: exit %d, %s; want 0 after the repair", code, out)
	}
	if code, _ := reconcile(nil, "--disc", "999999"); code != 2 {
		t.Fatalf("an unknown disc: exit %d; want 2", code)
	}
	if code, _ := reconcile(map[string]string{"RS_PG_URL": "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2"}); code != 2 {
		t.Fatalf("an unreachable Postgres: exit %d; want 2", code)
	}
	if code, _ := reconcile(map[string]string{"RS_PARTITIONS": "8"}); code != 2 {
		t.Fatalf("another partition count: exit %d; want 2", code)
	}
}
