package middleware

import (
	"context"
	"net/http"
	"testing"

	"github.com/cloudwego/hertz/pkg/app"
	"github.com/cloudwego/hertz/pkg/common/config"
	"github.com/cloudwego/hertz/pkg/common/ut"
	"github.com/cloudwego/hertz/pkg/route"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestMetricsLabelMadeUpMethodsOther: requests with methods no HTTP document defines are counted under OTHER,
// so a client inventing a method per request cannot grow the label set; known methods keep their name, and
// every request is counted once under its own route and status.
func TestMetricsLabelMadeUpMethodsOther(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	e := route.NewEngine(config.NewOptions([]config.Option{{F: func(o *config.Options) { o.DisablePrintRoute = true }}}))
	e.Use(m.Handle)
	e.Any("/thing", func(_ context.Context, c *app.RequestContext) { c.Status(http.StatusNoContent) })
	for _, method := range []string{"GET", "GET", "POST", "BREW", "X-1", "FETCHALL", "get"} {
		ut.PerformRequest(e, method, "/thing", nil)
	}
	ut.PerformRequest(e, "PROPFIND", "/nowhere", nil)

	// Only the methods HTTP defines reach the route; the made-up ones, and "get" (methods are case-sensitive),
	// find no route.
	want := map[[3]string]float64{
		{"GET", "/thing", "204"}:      2,
		{"POST", "/thing", "204"}:     1,
		{"OTHER", "unmatched", "404"}: 5,
	}
	for labels, n := range want {
		if got := testutil.ToFloat64(m.requests.WithLabelValues(labels[:]...)); got != n {
			t.Errorf("requests %v = %v, want %v", labels, got, n)
		}
	}
	if series := testutil.CollectAndCount(m.requests); series != len(want) {
		t.Errorf("%d label sets, want %d", series, len(want))
	}
}
