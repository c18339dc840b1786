package middleware

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/cloudwego/hertz/pkg/app"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts requests and times them per route and status.
type Metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	series   sync.Map // seriesKey -> series: each label set's two metrics, looked up once
}

// seriesKey is one label set: method, route pattern and status.
type seriesKey struct {
	method, route string
	status        int
}

// series is the counter and the histogram of one label set.
type series struct {
	requests prometheus.Counter
	latency  prometheus.Observer
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
	s := m.of(seriesKey{method: methodLabel(c.Method()), route: route, status: c.Response.StatusCode()})
	s.requests.Inc()
	s.latency.Observe(time.Since(start).Seconds())
}

// of returns the metrics of label set k, found once in the vectors and then kept: the vectors hash the labels
// on every lookup, and every request looks up its set.
func (m *Metrics) of(k seriesKey) series {
	if s, ok := m.series.Load(k); ok {
		return s.(series)
	}
	status := strconv.Itoa(k.status)
	s := series{requests: m.requests.WithLabelValues(k.method, k.route, status),
		latency: m.latency.WithLabelValues(k.method, k.route, status)}
	m.series.Store(k, s)
	return s
}

// httpMethods are the methods HTTP defines (RFC 9110 and PATCH), each its own label.
var httpMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace}

// methodLabel is the method label: one of httpMethods, or OTHER for any other token a client sends, so that
// made-up methods cannot grow the label set (and the series kept above) without bound.
func methodLabel(method []byte) string {
	for _, m := range httpMethods {
		if string(method) == m {
			return m
		}
	}
	return "OTHER"
}
