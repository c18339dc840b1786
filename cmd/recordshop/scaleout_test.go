package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/learecordshop/recordshop/biz/api/shoptest"
	"github.com/learecordshop/recordshop/dal/testenv"
)

// scaledOut is a shop as production runs it: two `serve --no-writer` and two `recordshop writer` processes,
// all started at the same instant on a fresh, unmigrated database.
type scaledOut struct {
	apis    []string // http://host:port of each API
	metrics []string // http://host:port of each writer's /metrics
	procs   []*child
}

// startScaledOut starts the four processes at once and waits until every API is ready and every writer serves
// its /healthz; a process that exits during start-up fails the test with its log.
func (e *faultEnv) startScaledOut() scaledOut {
	e.t.Helper()
	var s scaledOut
	port := func() string {
		ln := testenv.Listen(e.t)
		addr := ln.Addr().String()
		_ = ln.Close()
		return addr
	}
	apiAddrs := []string{e.addr, port()}
	metricsAddrs := []string{port(), port()}
	for _, a := range apiAddrs {
		s.apis = append(s.apis, "http://"+a)
		s.procs = append(s.procs, e.startChild("serve --no-writer", "RS_HTTP_ADDR="+a))
	}
	for _, a := range metricsAddrs {
		s.metrics = append(s.metrics, "http://"+a)
		s.procs = append(s.procs, e.startChild("writer", "RS_METRICS_ADDR="+a))
	}
	probes := append(append([]string{}, s.apis[0]+"/readyz", s.apis[1]+"/readyz"), s.metrics[0]+"/healthz", s.metrics[1]+"/healthz")
	client := &http.Client{Timeout: time.Second}
	testenv.Eventually(e.t, 60*time.Second, "the API and writer processes did not all come up", func() (bool, string) {
		for _, c := range s.procs {
			if c.exited() {
				e.t.Fatalf("recordshop %s exited during start-up:\n%s", c.name, c.stderr.tail(20))
			}
		}
		for _, url := range probes {
			resp, err := client.Get(url)
			if err != nil {
				return false, err.Error()
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return false, url + ": " + resp.Status
			}
		}
		return true, ""
	})
	return s
}

// TestScaleOutStartsAtOnce starts the two APIs and two writers at the same instant on a fresh database, round
// after round: each round must come up whole (several processes claim the partition count and migrate at
// once), and each writer serves its own metrics.
func TestScaleOutStartsAtOnce(t *testing.T) {
	const rounds = 4
	for round := range rounds {
		t.Run(fmt.Sprint("round ", round+1), func(t *testing.T) {
			e := newFaultEnv(t)
			s := e.startScaledOut()
			for _, m := range s.metrics {
				resp, err := http.Get(m + "/metrics")
				if err != nil {
					t.Fatal(err)
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || !strings.Contains(string(raw), "recordshop_writer_orders_flushed_total") {
					t.Fatalf("writer %s/metrics: %d, without the writer's metrics", m, resp.StatusCode)
				}
				resp, err = http.Get(m + "/nothing-here")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != "application/problem+json" {
					t.Fatalf("writer %s/nothing-here: %d %q; want a 404 problem", m, resp.StatusCode, resp.Header.Get("Content-Type"))
				}
			}
		})
	}
}

// TestScaleOutLaunch runs the launch scenarios (biz/api/shoptest) on two API and two writer processes, on the
// Redis Cluster in the cluster pass: requests alternate between the APIs, and either writer may land any
// order. Each scenario gets a fresh shop.
func TestScaleOutLaunch(t *testing.T) {
	for _, sc := range []struct {
		name string
		run  func(*testing.T, *shoptest.Shop)
	}{
		{"sells exactly the stock", shoptest.SellsExactlyTheStock},
		{"per-customer limit", shoptest.PerCustomerLimit},
		{"idempotency key", shoptest.IdempotencyKeyMakesOneOrder},
		{"refusals and sale start", shoptest.OrderRefusals},
		{"cancel", shoptest.CancelReturnsUnitsOnce},
	} {
		t.Run(sc.name, func(t *testing.T) {
			e := newFaultEnv(t)
			s := e.startScaledOut()
			sc.run(t, shoptest.New(t, s.apis, e.pool, faultAdmin, faultStorefront))
			if code, out := e.reconcile(nil); code != 0 {
				t.Errorf("reconcile after the scenario: exit %d\n%s", code, out)
			}
		})
	}
}
