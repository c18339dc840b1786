package monitoring_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/cloudwego/hertz/pkg/app/server"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap/zaptest"

	"github.com/learecordshop/recordshop/biz/api"
	mw "github.com/learecordshop/recordshop/biz/middleware"
	"github.com/learecordshop/recordshop/dal/testenv"
)

const (
	adminToken      = "monitoring-admin-token"
	storefrontToken = "monitoring-storefront-token"
)

// stores are the Postgres and Redis a shop under test runs on, each with its own database and key prefix.
type stores struct {
	pool   *pgxpool.Pool
	redis  goredis.UniversalClient
	prefix string
}

// freshStores are a new database and key prefix on the tests' servers.
func freshStores(t *testing.T) stores {
	t.Helper()
	_, prefix := testenv.Redis(t) // its cleanup removes the prefix's keys
	return stores{pool: testenv.PG(t), redis: testenv.NewRedisClient(t), prefix: prefix}
}

// deps are the shop's dependencies over s, as serve builds them, with a registry of its own.
func deps(t *testing.T, s stores) api.Deps {
	return api.Deps{
		PG: s.pool, Redis: s.redis, Log: zaptest.NewLogger(t), Registry: prometheus.NewRegistry(),
		Tokens:     mw.NewTokens([]string{adminToken}, []string{storefrontToken}),
		Partitions: 4, Namespace: s.prefix, RedisWait: testenv.RedisWait(),
	}
}

// shop is a running recordshop serve, as an operator and a buyer reach it.
type shop struct {
	base string // "http://127.0.0.1:port"
}

// startShop builds d (api.Build, Prepare) and runs it with its writer until the test ends, as serve does.
func startShop(t *testing.T, d api.Deps) *shop {
	t.Helper()
	ln := testenv.Listen(t)
	built, err := api.New(t.Context(), d, server.WithListener(ln), server.WithExitWaitTime(time.Second))
	if err != nil {
		t.Fatalf("api.New: %v", err)
	}
	runUntilCleanup(t, "the shop", func(ctx context.Context) error { return built.Run(ctx, true, 5*time.Second) })
	return &shop{base: "http://" + ln.Addr().String()}
}

// startWriter runs a writer alone with its metrics server, as `recordshop writer` does, until the test ends;
// it returns the metrics server's base URL.
func startWriter(t *testing.T, d api.Deps) string {
	t.Helper()
	d.Writer.Consumer = "monitoring-writer" // not the in-process writer's host-pid
	w, err := api.NewWriter(t.Context(), d)
	if err != nil {
		t.Fatalf("api.NewWriter: %v", err)
	}
	ln := testenv.Listen(t)
	ops, err := api.BuildOps(d, server.WithListener(ln), server.WithExitWaitTime(time.Second))
	if err != nil {
		t.Fatalf("api.BuildOps: %v", err)
	}
	runUntilCleanup(t, "the writer's metrics", func(ctx context.Context) error { return ops.Serve(ctx, 5*time.Second) })
	runUntilCleanup(t, "the writer", func(ctx context.Context) error {
		if err := w.Run(ctx); ctx.Err() == nil {
			return err
		}
		return nil
	})
	return "http://" + ln.Addr().String()
}

// runUntilCleanup runs fn in the background until the test ends, then stops it and fails the test if it
// stopped with an error.
func runUntilCleanup(t *testing.T, what string, fn func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s stopped with an error: %v", what, err)
		}
	})
}

// call sends one request with a JSON body (when body is not nil) and decodes a JSON answer into out (when not
// nil); it returns the status.
func (s *shop) call(t *testing.T, method, path, token string, body, out any) int {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, s.base+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if out != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: answer %q: %v", method, path, raw, err)
		}
	}
	return res.StatusCode
}

// exported is what one /metrics answer holds: each series name (histograms as _bucket, _sum and _count) with
// the label names its series carry, and the values of each label.
type exported map[string]map[string]map[string]bool

// scrape reads base's /metrics. A metric family with no series (a labelled vector nothing has touched) is not
// exported: a query of it finds nothing.
func scrape(t *testing.T, base string) (exported, map[string]*dto.MetricFamily) {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("scrape %s: %v", base, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: status %d", base, res.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("scrape %s: %v", base, err)
	}
	out := exported{}
	add := func(name string, m *dto.Metric, extra ...string) {
		if out[name] == nil {
			out[name] = map[string]map[string]bool{}
		}
		set := func(label, value string) {
			if out[name][label] == nil {
				out[name][label] = map[string]bool{}
			}
			out[name][label][value] = true
		}
		for _, l := range m.GetLabel() {
			set(l.GetName(), l.GetValue())
		}
		for _, label := range extra {
			set(label, "")
		}
	}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			switch f.GetType() {
			case dto.MetricType_HISTOGRAM:
				add(name+"_bucket", m, "le")
				add(name+"_sum", m)
				add(name+"_count", m)
			case dto.MetricType_SUMMARY:
				add(name, m, "quantile")
				add(name+"_sum", m)
				add(name+"_count", m)
			default:
				add(name, m)
			}
		}
	}
	return out, families
}

// sum adds up the values of every series of a counter or gauge family (0 when it has none).
func sum(families map[string]*dto.MetricFamily, name string) float64 {
	total := 0.0
	for _, m := range families[name].GetMetric() {
		total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	return total
}

// proxy passes TCP connections on to a server until cut, which closes every connection and, until restore,
// closes each new one at once: a store the shop can no longer reach, as a network partition or a crash looks
// to it. It keeps its port all along, so that restore cannot lose it to another socket.
type proxy struct {
	addr   string
	target string

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]bool
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln := testenv.Listen(t) // closed when the test ends
	p := &proxy{addr: ln.Addr().String(), target: target, conns: map[net.Conn]bool{}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pass(c)
		}
	}()
	t.Cleanup(p.cut)
	return p
}

// via is rawURL with its host replaced by the proxy's.
func (p *proxy) via(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = p.addr
	return u.String()
}

// pass copies bytes both ways between c and a new connection to the target, unless the proxy is cut.
func (p *proxy) pass(c net.Conn) {
	p.mu.Lock()
	down := p.down
	p.mu.Unlock()
	if down {
		c.Close()
		return
	}
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.down { // cut while dialling
		p.mu.Unlock()
		c.Close()
		s.Close()
		return
	}
	p.conns[c], p.conns[s] = true, true
	p.mu.Unlock()
	go func() { _, _ = io.Copy(s, c); s.Close() }()
	_, _ = io.Copy(c, s)
	c.Close()
}

// cut closes every connection and refuses new ones.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// restore passes new connections again.
func (p *proxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

// hostPort is the host:port of a store URL, for the proxy to dial.
func hostPort(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil || u.Port() == "" {
		t.Skipf("the store at %q is not reached over TCP host:port, which the proxy needs", redact(rawURL))
	}
	return u.Host
}

// redact drops a URL's password for a message.
func redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable url)"
	}
	return u.Redacted()
}
