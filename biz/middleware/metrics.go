package middleware

import (
	"context"
	"strconv"
	"time"

	"github.com/cloudwego/hertz/pkg/app"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts requests and times them per route and status.
type Metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// NewMetrics registers the HTTP metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "recordshop_http_requests_total",
			Help: "HTTP requests answered, by method, route pattern and status.",
		}, []string{"method", "route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "recordshop_http_request_duration_seconds",
			Help: "Time to answer an HTTP request, by method, route pattern and status.",
			// Fine below 10 ms: the order path answers in about a millisecond.
			Buckets: []float64{.0002, .0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"method", "route", "status"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Handle is the middleware. It labels by route pattern (/v1/discs/:id), never by raw path, so that ids do not
// blow up the label set.
func (m *Metrics) Handle(ctx context.Context, c *app.RequestContext) {
	start := time.Now()
	c.Next(ctx)
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	labels := []string{string(c.Method()), route, strconv.Itoa(c.Response.StatusCode())}
	m.requests.WithLabelValues(labels...).Inc()
	m.latency.WithLabelValues(labels...).Observe(time.Since(start).Seconds())
}
