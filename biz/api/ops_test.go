package api_test

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestHealthDocsAndMetrics(t *testing.T) {
	t.Parallel()
	a := newServedAPI(t)
	t.Run("healthz", func(t *testing.T) {
		got := decode[map[string]string](t, a.call(t, http.MethodGet, "/healthz", "", nil), http.StatusOK)
		if diff := cmp.Diff(map[string]string{"status": "ok"}, got); diff != "" {
			t.Errorf("/healthz (-want +got):\n%s", diff)
		}
	})
	t.Run("readyz", func(t *testing.T) {
		got := decode[map[string]string](t, a.call(t, http.MethodGet, "/readyz", "", nil), http.StatusOK)
		if diff := cmp.Diff(map[string]string{"postgres": "ok", "redis": "ok"}, got); diff != "" {
			t.Errorf("/readyz (-want +got):\n%s", diff)
		}
	})
	t.Run("openapi.json", func(t *testing.T) {
		res := a.call(t, http.MethodGet, "/openapi.json", "", nil)
		if res.status != http.StatusOK || res.mediaType() != "application/json" {
			t.Fatalf("/openapi.json: %d %q", res.status, res.header.Get("Content-Type"))
		}
		var doc struct {
			OpenAPI string                     `json:"openapi"`
			Paths   map[string]json.RawMessage `json:"paths"`
		}
		if err := json.Unmarshal(res.body, &doc); err != nil {
			t.Fatalf("/openapi.json is not JSON: %v", err)
		}
		if !strings.HasPrefix(doc.OpenAPI, "3.") || doc.Paths["/v1/discs"] == nil {
			t.Errorf("openapi %q with paths %v; want a 3.x document that has /v1/discs", doc.OpenAPI, slices.Sorted(maps.Keys(doc.Paths)))
		}
	})
	t.Run("docs", func(t *testing.T) {
		res := a.call(t, http.MethodGet, "/docs", "", nil)
		if res.status != http.StatusOK || res.mediaType() != "text/html" {
			t.Fatalf("/docs: %d %q", res.status, res.header.Get("Content-Type"))
		}
		if !bytes.HasPrefix(bytes.TrimSpace(res.body), []byte("<!DOCTYPE html>")) || !bytes.Contains(res.body, []byte("/v1/discs")) {
			t.Errorf("/docs is not an HTML page that shows the API: %.200s", res.body)
		}
	})
	t.Run("unknown path", func(t *testing.T) {
		for _, path := range []string{"/nope", "/v1/records", "/v1/discs/1/nope", "/v2/discs"} {
			p := wantProblem(t, a.call(t, http.MethodGet, path, adminToken, nil), http.StatusNotFound, "not-found", nil)
			if p.Instance != path {
				t.Errorf("instance %q, want %q", p.Instance, path)
			}
		}
	})
	t.Run("wrong method", func(t *testing.T) {
		for _, tt := range []struct{ method, path, allow string }{
			{http.MethodPut, "/v1/discs", "GET, POST"},
			{http.MethodDelete, "/healthz", "GET"},
			{http.MethodPut, "/v1/customers/1", "DELETE, GET, PATCH"},
			{http.MethodGet, "/v1/discs/1/restock", "POST"},
		} {
			res := a.call(t, tt.method, tt.path, adminToken, nil)
			wantProblem(t, res, http.StatusMethodNotAllowed, "method-not-allowed", nil)
			// RFC 9110 section 15.5.6: a 405 MUST carry Allow, listing the methods the resource supports.
			allow := strings.Split(strings.ReplaceAll(res.header.Get("Allow"), " ", ""), ",")
			slices.Sort(allow)
			if got := strings.Join(allow, ", "); got != tt.allow {
				t.Errorf("%s %s: Allow %q, want %q", tt.method, tt.path, res.header.Get("Allow"), tt.allow)
			}
		}
	})
	t.Run("request id", func(t *testing.T) {
		res := a.do(t, request{method: http.MethodGet, path: "/healthz", header: map[string]string{"X-Request-Id": "req-42"}})
		if got := res.header.Get("X-Request-Id"); got != "req-42" {
			t.Errorf("X-Request-Id %q, want the caller's req-42", got)
		}
		for _, free := range []string{"ana@example.com", "has space", strings.Repeat("x", 65)} {
			res := a.do(t, request{method: http.MethodGet, path: "/healthz", header: map[string]string{"X-Request-Id": free}})
			if got := res.header.Get("X-Request-Id"); got == free || got == "" {
				t.Errorf("X-Request-Id %q kept (%q); want one made here: it is logged and echoed", free, got)
			}
		}
		if got := a.call(t, http.MethodGet, "/healthz", "", nil).header.Get("X-Request-Id"); got == "" {
			t.Errorf("no X-Request-Id made for a request without one")
		}
	})
	t.Run("metrics", func(t *testing.T) {
		before, _ := scrape(t, a)
		for range 3 {
			a.call(t, http.MethodGet, "/v1/discs/424242", "", nil)
		}
		a.call(t, http.MethodGet, "/v1/discs?limit=1", "", nil)
		a.call(t, http.MethodGet, "/no/such/path", "", nil)
		after, text := scrape(t, a)
		for series, want := range map[string]float64{
			`{method="GET",route="/v1/discs/:id",status="404"}`: 3,
			`{method="GET",route="/v1/discs",status="200"}`:     1,
			`{method="GET",route="unmatched",status="404"}`:     1,
			`{method="GET",route="/metrics",status="200"}`:      1, // the first scrape; a scrape counts after it answers
		} {
			if got := after[series] - before[series]; got != want {
				t.Errorf("recordshop_http_requests_total%s went up by %v, want %v", series, got, want)
			}
		}
		for _, leak := range []string{"424242", "/no/such/path"} {
			if strings.Contains(text, leak) {
				t.Errorf("/metrics labels by raw path (%s); routes must be patterns", leak)
			}
		}
		if !strings.Contains(text, `recordshop_http_request_duration_seconds_count{method="GET",route="/v1/discs/:id",status="404"}`) {
			t.Errorf("/metrics has no latency histogram for GET /v1/discs/:id")
		}
	})
}

// scrape reads /metrics and returns recordshop_http_requests_total by its label set as written, and the text.
func scrape(t *testing.T, a *testAPI) (map[string]float64, string) {
	t.Helper()
	res := a.call(t, http.MethodGet, "/metrics", "", nil)
	if res.status != http.StatusOK || res.mediaType() != "text/plain" {
		t.Fatalf("/metrics: %d %q", res.status, res.header.Get("Content-Type"))
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(res.body), "\n") {
		rest, ok := strings.CutPrefix(line, "recordshop_http_requests_total{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, " ")
		v, err := strconv.ParseFloat(value, 64)
		if !ok || err != nil {
			t.Fatalf("/metrics line %q is not a series and a value", line)
		}
		out["{"+labels] = v
	}
	if len(out) == 0 {
		t.Fatalf("/metrics has no recordshop_http_requests_total series:\n%s", res.body)
	}
	return out, string(res.body)
}

func TestReadyzWhenADependencyIsDown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cut  func(*testAPI)
		down string
	}{
		{"redis", func(a *testAPI) { a.redis.Close() }, "redis"},
		{"postgres", func(a *testAPI) { a.pool.Close() }, "postgres"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newAPI(t)
			tt.cut(a)
			p := wantProblem(t, a.call(t, http.MethodGet, "/readyz", "", nil), http.StatusServiceUnavailable, "not-ready", nil)
			for _, dep := range []string{"postgres", "redis"} {
				if named := strings.Contains(p.Detail, dep); named != (dep == tt.down) {
					t.Errorf("detail %q: names %s = %v; only %s is down", p.Detail, dep, named, tt.down)
				}
			}
			// Liveness does not depend on either.
			if res := a.call(t, http.MethodGet, "/healthz", "", nil); res.status != http.StatusOK {
				t.Errorf("/healthz with %s down: %s", tt.down, res)
			}
		})
	}
}
