package api_test

// The API under hostile input: malformed framing, oversized and mistyped bodies, odd paths, queries and
// headers, values the stores cannot represent, and races. Whatever a client sends, the answer is an RFC 9457
// problem of the documented kind and never a 5xx, and nothing a refused request carried is stored.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudwego/hertz/pkg/app/server"
	"github.com/google/go-cmp/cmp"

	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/biz/problem"
	"github.com/learecordshop/recordshop/biz/router"
	"github.com/learecordshop/recordshop/dal/testenv"
)

// wireClient is an HTTP client that shows a redirect instead of following it.
func wireClient(t *testing.T) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Timeout:       15 * time.Second,
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// wireRequest is a request sent over a real connection by net/http.
type wireRequest struct {
	method, path string
	token        string      // sent as "Bearer <token>" unless empty
	header       http.Header // more headers, sent as they are
	body         []byte      // sent as application/json unless header has a Content-Type
	chunked      bool        // send the body with Transfer-Encoding: chunked
}

// sendErr sends r to the served API a; the error says why there was no answer.
func (a *testAPI) sendErr(c *http.Client, r wireRequest) (response, error) {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequest(r.method, a.base+r.path, body)
	if err != nil {
		return response{}, err
	}
	for k, vs := range r.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	if r.body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.chunked {
		req.ContentLength = -1
		req.TransferEncoding = []string{"chunked"}
		req.Body = io.NopCloser(bytes.NewReader(r.body))
		req.GetBody = nil
	}
	res, err := c.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, fmt.Errorf("read the answer of %d: %w", res.StatusCode, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}, nil
}

// send is sendErr that fails the test when there is no answer, and checks the answer is well formed.
func (a *testAPI) send(t *testing.T, c *http.Client, r wireRequest) response {
	t.Helper()
	res, err := a.sendErr(c, r)
	if err != nil {
		t.Fatalf("%s %s: no answer: %v", r.method, r.path, err)
	}
	wellFormed(t, res)
	return res
}

// rawRequest is one request as bytes: the request line, the header lines as given, an empty line and body.
func rawRequest(line string, headers []string, body string) []byte {
	var b strings.Builder
	b.WriteString(line + "\r\n")
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	return []byte(b.String())
}

// exchange writes raw on a fresh connection to the served API a and reads one answer; the error says why
// there was none. Nothing waits longer than 5 s.
func (a *testAPI) exchange(t *testing.T, raw []byte) (response, error) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(a.base, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	// Written beside the read: a server may rightly answer and close before it has read everything.
	go func() { _, _ = conn.Write(raw) }()
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, fmt.Errorf("read the body of a %d: %w", res.StatusCode, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}, nil
}

// mustExchange is exchange that fails the test when the server answered nothing.
func (a *testAPI) mustExchange(t *testing.T, raw []byte) response {
	t.Helper()
	res, err := a.exchange(t, raw)
	if err != nil {
		t.Fatalf("no answer (%v) to %.120q", err, raw)
	}
	return res
}

// wellFormed checks what every answer of this suite must be: never a 5xx, and a refusal is an RFC 9457
// problem whose type is one of recordshop's and whose status member is the HTTP status.
func wellFormed(t *testing.T, r response) {
	t.Helper()
	if r.status >= 500 {
		t.Errorf("status %d: a client's input must never cause a 5xx: %.300s", r.status, r)
	}
	if r.status < 400 {
		return
	}
	if mt := r.mediaType(); mt != problem.ContentType {
		t.Errorf("status %d with Content-Type %q, want %s: %.300s", r.status, r.header.Get("Content-Type"), problem.ContentType, r)
		return
	}
	var p struct {
		Type   string `json:"type"`
		Status int    `json:"status"`
	}
	if err := json.Unmarshal(r.body, &p); err != nil || !strings.HasPrefix(p.Type, problem.TypePrefix) || p.Status != r.status {
		t.Errorf("problem with type %q and status %d (%v); want a type under %s and status %d: %.300s",
			p.Type, p.Status, err, problem.TypePrefix, r.status, r)
	}
}

// wantKind checks that r is a well-formed problem of status and kind, whatever fields its errors name.
func wantKind(t *testing.T, r response, status int, kind string) problem.Problem {
	t.Helper()
	var p problem.Problem
	_ = json.Unmarshal(r.body, &p)
	if r.status != status || r.mediaType() != problem.ContentType || p.Type != problem.TypePrefix+kind {
		t.Fatalf("answer %d %q type %q; want %d %s type %s%s: %.300s", r.status, r.header.Get("Content-Type"), p.Type,
			status, problem.ContentType, problem.TypePrefix, kind, r)
	}
	wellFormed(t, r)
	return p
}

// wantNaming is wantKind whose errors name field, among any others.
func wantNaming(t *testing.T, r response, status int, kind, field string) {
	t.Helper()
	p := wantKind(t, r, status, kind)
	for _, f := range p.Errors {
		if f.Field == field {
			return
		}
	}
	t.Fatalf("the problem's errors do not name %q: %s", field, r)
}

// bodyRoute is an endpoint that takes a JSON body, with bodies it accepts.
type bodyRoute struct {
	name, method, pattern, path, token string
	created                            bool       // answers 201 (else 200)
	valid                              func() obj // a body it accepts; creates get fresh unique values each call
	alt                                obj        // patches: another accepted body, of other fields than valid's
	fields                             []string   // every field of the body
	ints                               []string   // its integer fields
	text                               string     // a string field, "" when it has none
}

// forField is an accepted body to put field into: valid's, or alt's when valid already sets field.
func (r bodyRoute) forField(field string) obj {
	b := r.valid()
	if _, ok := b[field]; ok && r.alt != nil {
		return r.alt.without()
	}
	return b
}

// bodyRoutes makes a customer and a disc in a and returns every endpoint that takes a body, aimed at them.
// It fails when the router has a POST or PATCH route this list does not know, so a new one gets covered.
func bodyRoutes(t *testing.T, a *testAPI) []bodyRoute {
	t.Helper()
	cu := a.createCustomer(t, customerBody(900))
	d := a.createDisc(t, discBody("Target", "Hostile", 1999, "Rock", 1_000).without("per_customer_limit"))
	var mu sync.Mutex
	seed := int64(10_000)
	next := func() int64 {
		mu.Lock()
		defer mu.Unlock()
		seed++
		return seed
	}
	discFields := []string{"name", "artist", "release_year", "style", "price_cents", "stock", "sale_starts_at", "per_customer_limit"}
	discInts := []string{"release_year", "price_cents", "stock", "per_customer_limit"}
	out := []bodyRoute{
		{name: "create customer", method: http.MethodPost, pattern: "/v1/customers", path: "/v1/customers", token: storefrontToken,
			created: true, valid: func() obj { return customerBody(next()) },
			fields: []string{"document", "name", "email", "phone", "birth_date"}, text: "name"},
		{name: "patch customer", method: http.MethodPatch, pattern: "/v1/customers/:id", path: fmt.Sprintf("/v1/customers/%d", cu.ID),
			token: storefrontToken, valid: func() obj { return obj{"name": "Bia"} }, alt: obj{"birth_date": "1991-02-03"},
			fields: []string{"name", "email", "phone", "birth_date"}, text: "name"},
		{name: "create disc", method: http.MethodPost, pattern: "/v1/discs", path: "/v1/discs", token: adminToken, created: true,
			valid:  func() obj { return discBody(fmt.Sprintf("Disc %d", next()), "Hostile", 2001, "Rock", 5) },
			fields: discFields, ints: discInts, text: "name"},
		{name: "patch disc", method: http.MethodPatch, pattern: "/v1/discs/:id", path: fmt.Sprintf("/v1/discs/%d", d.ID), token: adminToken,
			valid: func() obj { return obj{"price_cents": 100} }, alt: obj{"name": "Renamed"},
			fields: discFields, ints: discInts, text: "name"},
		{name: "restock", method: http.MethodPost, pattern: "/v1/discs/:id/restock", path: fmt.Sprintf("/v1/discs/%d/restock", d.ID),
			token: adminToken, valid: func() obj { return obj{"delta": 1} }, fields: []string{"delta"}, ints: []string{"delta"}},
		{name: "place order", method: http.MethodPost, pattern: "/v1/orders", path: "/v1/orders", token: storefrontToken, created: true,
			valid:  func() obj { return obj{"customer_id": cu.ID, "disc_id": d.ID, "quantity": 1} },
			fields: []string{"customer_id", "disc_id", "quantity"}, ints: []string{"customer_id", "disc_id", "quantity"}},
	}
	// POST routes that take no body.
	bodiless := []string{"/v1/customers/:id/deactivate", "/v1/customers/:id/reactivate", "/v1/orders/:id/cancel", "/v1/admin/reconcile"}
	for _, r := range routes(t) {
		if r.Method != http.MethodPost && r.Method != http.MethodPatch || slices.Contains(bodiless, r.Path) {
			continue
		}
		if !slices.ContainsFunc(out, func(b bodyRoute) bool { return b.method == r.Method && b.pattern == r.Path }) {
			t.Errorf("%s %s takes a body but this suite does not know it; add it to bodyRoutes", r.Method, r.Path)
		}
	}
	for _, b := range out {
		if !slices.ContainsFunc(routes(t), func(r router.Route) bool { return r.Method == b.method && r.Path == b.pattern }) {
			t.Errorf("bodyRoutes names %s %s, which the router does not have", b.method, b.pattern)
		}
	}
	return out
}

// withMember returns b as JSON with the raw member (`"key":value`) put first.
func withMember(t *testing.T, b obj, member string) []byte {
	t.Helper()
	j := mustJSON(t, b)
	if len(j) == 2 {
		return []byte("{" + member + "}")
	}
	return append([]byte("{"+member+","), j[1:]...)
}

// withRaw returns b as JSON with key set to the raw JSON value.
func withRaw(t *testing.T, b obj, key, raw string) []byte {
	t.Helper()
	return withMember(t, b.without(key), string(mustJSON(t, key))+":"+raw)
}

// R1: malformed framing, sent as bytes.
func TestHostileFraming(t *testing.T) {
	t.Parallel()
	// A short read deadline: two of these requests are answered by it (see incomplete below).
	a := servedWith(t, false, server.WithReadTimeout(time.Second))
	host := []string{"Host: 127.0.0.1", "Connection: close"}
	post := func(headers ...string) []byte {
		return rawRequest("POST /v1/customers HTTP/1.1", append(append(slices.Clone(host), "Authorization: Bearer "+storefrontToken,
			"Content-Type: application/json"), headers...), "{}")
	}
	tests := []struct {
		name string
		raw  []byte
		// The fault is in the request target: a path that still parses may be refused as a 404 or 400 of
		// its own kind.
		target bool
		// Hertz's parser reads these as a request still arriving (a header line it waits to see completed,
		// a body of the last Content-Length): the read deadline ends them with 408, as problem+json.
		incomplete bool
	}{
		{"quote in the target", rawRequest("GET /v1/discs/1' HTTP/1.1", host, ""), true, false},
		{"space in the target", rawRequest("GET /v1/discs/1 2 HTTP/1.1", host, ""), true, false},
		{"control character in the target", rawRequest("GET /v1/discs/\x01 HTTP/1.1", host, ""), true, false},
		{"NUL in the target", rawRequest("GET /v1/discs/\x00 HTTP/1.1", host, ""), true, false},
		{"DEL in the target", rawRequest("GET /v1/discs/\x7f HTTP/1.1", host, ""), true, false},
		{"Content-Length abc", post("Content-Length: abc"), false, false},
		{"Content-Length -1", post("Content-Length: -1"), false, false},
		{"Content-Length +2", post("Content-Length: +2"), false, false},
		{"two different Content-Lengths", post("Content-Length: 2", "Content-Length: 3"), false, true},
		{"Content-Length list of two values", post("Content-Length: 2, 3"), false, false},
		{"CR alone in a header value", rawRequest("GET /healthz HTTP/1.1", append(slices.Clone(host), "X-Note: a\rb"), ""), false, false},
		{"no Host on HTTP/1.1", rawRequest("GET /healthz HTTP/1.1", []string{"Connection: close"}, ""), false, false},
		{"header line without a colon", rawRequest("GET /healthz HTTP/1.1", append(slices.Clone(host), "NoColonHere"), ""), false, true},
		{"request line of one word", rawRequest("GARBAGE", host, ""), false, false},
		{"request line without a version", rawRequest("GET /healthz", host, ""), false, false},
		{"request line with an unknown protocol", rawRequest("GET /healthz FOO/1.1", host, ""), false, false},
		{"request line of binary bytes", rawRequest("\x16\x03\x01\x02\x00 / HTTP/1.1", host, ""), false, false},
		{"request line without a method", rawRequest(" /healthz HTTP/1.1", host, ""), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := a.mustExchange(t, tt.raw)
			if tt.target {
				if res.status != http.StatusBadRequest && res.status != http.StatusNotFound {
					t.Fatalf("status %d; want 400 or 404: %.300s", res.status, res)
				}
				wellFormed(t, res)
				return
			}
			if tt.incomplete && res.status == http.StatusRequestTimeout {
				wantKind(t, res, http.StatusRequestTimeout, "request-timeout")
				return
			}
			wantKind(t, res, http.StatusBadRequest, "malformed-request")
		})
	}
}

// R2: bodies over 64 KiB, by Content-Length or chunked; a small chunked body is a body like any other.
func TestHostileBodySize(t *testing.T) {
	t.Parallel()
	a := servedWith(t, false)
	c := wireClient(t)
	padded := func(n int) []byte {
		const head, tail = `{"name":"`, `"}`
		return []byte(head + strings.Repeat("a", n-len(head)-len(tail)) + tail)
	}
	// Sent as bytes, read while written: a server may rightly answer before it has read a large body, and
	// net/http's client then reports its failed write rather than the answer.
	raw := func(r bodyRoute, body []byte, chunked bool) []byte {
		headers := []string{"Host: 127.0.0.1", "Connection: close", "Authorization: Bearer " + r.token, "Content-Type: application/json"}
		line := r.method + " " + r.path + " HTTP/1.1"
		if !chunked {
			return rawRequest(line, append(headers, "Content-Length: "+strconv.Itoa(len(body))), string(body))
		}
		var b strings.Builder
		for len(body) > 0 {
			n := min(len(body), 16<<10)
			fmt.Fprintf(&b, "%x\r\n%s\r\n", n, body[:n])
			body = body[n:]
		}
		b.WriteString("0\r\n\r\n")
		return rawRequest(line, append(headers, "Transfer-Encoding: chunked"), b.String())
	}
	for _, r := range bodyRoutes(t, a) {
		for _, size := range []struct {
			name string
			n    int
		}{{"100 KiB", 100 << 10}, {"2 MiB", 2 << 20}} {
			for _, chunked := range []bool{false, true} {
				framing := "Content-Length"
				if chunked {
					framing = "chunked"
				}
				t.Run(r.name+" "+size.name+" "+framing, func(t *testing.T) {
					t.Parallel()
					wantKind(t, a.mustExchange(t, raw(r, padded(size.n), chunked)), http.StatusRequestEntityTooLarge, "body-too-large")
				})
			}
		}
	}
	t.Run("small chunked body creates a customer", func(t *testing.T) {
		body := customerBody(77)
		res := a.send(t, c, wireRequest{method: http.MethodPost, path: "/v1/customers", token: storefrontToken, body: mustJSON(t, body), chunked: true})
		created := decode[model.Customer](t, res, http.StatusCreated)
		if created.Document != body["document"] || created.Email != body["email"] {
			t.Errorf("created %+v from %v", created, body)
		}
		got := decode[model.Customer](t, a.send(t, c, wireRequest{method: http.MethodGet, path: res.header.Get("Location"), token: storefrontToken}), http.StatusOK)
		if diff := cmp.Diff(created, got); diff != "" {
			t.Errorf("GET Location (-created +got):\n%s", diff)
		}
	})
	t.Run("small chunked body patches a disc", func(t *testing.T) {
		d := a.createDisc(t, discBody("Chunked", "Hostile", 2001, "Rock", 5))
		path := fmt.Sprintf("/v1/discs/%d", d.ID)
		got := decode[model.Disc](t, a.send(t, c, wireRequest{method: http.MethodPatch, path: path, token: adminToken, body: []byte(`{"price_cents":1234}`), chunked: true}), http.StatusOK)
		if got.PriceCents != 1234 {
			t.Errorf("price after a chunked PATCH: %d, want 1234", got.PriceCents)
		}
	})
}

// R3: request headers over the server's limit.
func TestHostileHeaderSize(t *testing.T) {
	t.Parallel()
	a := servedWith(t, false)
	host := []string{"Host: 127.0.0.1", "Connection: close"}
	many := slices.Clone(host)
	for i := range 2000 {
		many = append(many, fmt.Sprintf("X-Header-%d: %s", i, strings.Repeat("v", 40)))
	}
	tests := []struct {
		name   string
		raw    []byte
		any4xx bool // any refusal will do, as long as it is a problem
	}{
		{"one header of 64 KiB", rawRequest("GET /healthz HTTP/1.1", append(slices.Clone(host), "X-Big: "+strings.Repeat("a", 64<<10)), ""), false},
		{"one header of 1 MiB", rawRequest("GET /healthz HTTP/1.1", append(slices.Clone(host), "X-Big: "+strings.Repeat("a", 1<<20)), ""), false},
		{"2,000 headers", rawRequest("GET /healthz HTTP/1.1", many, ""), false},
		// The rules do not say which refusal a long request line gets (its name filter is over 200 characters
		// too), only that it is refused as a problem.
		{"a request target of 64 KiB", rawRequest("GET /v1/discs?name="+strings.Repeat("a", 64<<10)+" HTTP/1.1", host, ""), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := a.mustExchange(t, tt.raw)
			if tt.any4xx {
				if res.status < 400 || res.status >= 500 {
					t.Fatalf("status %d; want a 4xx: %.300s", res.status, res)
				}
				wellFormed(t, res)
				return
			}
			switch res.status {
			case http.StatusRequestHeaderFieldsTooLarge:
				wantKind(t, res, res.status, "headers-too-large")
			case http.StatusBadRequest:
				wantKind(t, res, res.status, "malformed-request")
			default:
				t.Fatalf("status %d; want 431 headers-too-large or 400 malformed-request: %.300s", res.status, res)
			}
		})
	}
}

// R4: a body must come as application/json (or a +json type).
func TestHostileMediaType(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	refused := []struct {
		name, contentType string
		none              bool
	}{
		{"no Content-Type", "", true},
		{"text/plain", "text/plain", false},
		{"multipart/form-data", "multipart/form-data; boundary=x", false},
		{"form", "application/x-www-form-urlencoded", false},
	}
	accepted := []string{
		"application/json",
		"application/json; charset=utf-8",
		"application/json;charset=UTF-8",
		"Application/JSON",
		"application/merge-patch+json",
		"application/vnd.recordshop+json",
	}
	for _, r := range bodyRoutes(t, a) {
		t.Run(r.name, func(t *testing.T) {
			for _, tt := range refused {
				t.Run("refuses "+tt.name, func(t *testing.T) {
					res := a.do(t, request{method: r.method, path: r.path, token: r.token, contentType: tt.contentType,
						noContentType: tt.none, body: mustJSON(t, r.valid())})
					wantKind(t, res, http.StatusUnsupportedMediaType, "unsupported-media-type")
				})
			}
			for _, ct := range accepted {
				t.Run("accepts "+ct, func(t *testing.T) {
					res := a.do(t, request{method: r.method, path: r.path, token: r.token, contentType: ct, body: mustJSON(t, r.valid())})
					want := http.StatusOK
					if r.created {
						want = http.StatusCreated
					}
					if res.status != want {
						t.Fatalf("status %d, want %d: %s", res.status, want, res)
					}
				})
			}
		})
	}
}

// R5: unknown paths, trailing slashes and wrong methods.
func TestHostileRouting(t *testing.T) {
	t.Parallel()
	a := servedWith(t, false)
	c := wireClient(t)
	t.Run("unknown path", func(t *testing.T) {
		for _, tt := range []struct{ method, path string }{
			{http.MethodGet, "/index.html"}, {http.MethodGet, "/v1"}, {http.MethodGet, "/v1/nope"}, {http.MethodPost, "/v1/nope"},
			{http.MethodGet, "/v1/discs/1/nope"}, {http.MethodGet, "/V1/discs"}, {http.MethodGet, "/v1/Discs"},
		} {
			t.Run(tt.method+" "+tt.path, func(t *testing.T) {
				wantKind(t, a.send(t, c, wireRequest{method: tt.method, path: tt.path, token: adminToken}), http.StatusNotFound, "not-found")
			})
		}
	})
	t.Run("trailing slash", func(t *testing.T) {
		for _, r := range routes(t) {
			if r.Path == "/" {
				continue // the root ends in "/" already: "//" is "/" once the server collapses repeated slashes
			}
			path := concrete(r.Path, "1") + "/"
			t.Run(r.Method+" "+path, func(t *testing.T) {
				res := a.send(t, c, wireRequest{method: r.Method, path: path, token: adminToken})
				if res.status >= 300 && res.status < 400 {
					t.Fatalf("status %d to %q: a path with a trailing slash is not found, never redirected", res.status, res.header.Get("Location"))
				}
				wantKind(t, res, http.StatusNotFound, "not-found")
			})
		}
	})
	t.Run("wrong method", func(t *testing.T) {
		methods := map[string][]string{} // concrete path -> the methods its route takes
		for _, r := range routes(t) {
			p := concrete(r.Path, "1")
			methods[p] = append(methods[p], r.Method)
		}
		type call struct{ method, path string }
		calls := []call{{http.MethodPost, "/v1/discs/1"}, {http.MethodPut, "/v1/orders"}, {http.MethodDelete, "/v1/orders"},
			{http.MethodPatch, "/healthz"}, {"PROPFIND", "/v1/discs"}}
		for p := range methods {
			calls = append(calls, call{http.MethodPut, p})
		}
		for _, tt := range calls {
			t.Run(tt.method+" "+tt.path, func(t *testing.T) {
				res := a.send(t, c, wireRequest{method: tt.method, path: tt.path, token: adminToken})
				wantKind(t, res, http.StatusMethodNotAllowed, "method-not-allowed")
				allow := strings.Split(strings.ReplaceAll(res.header.Get("Allow"), " ", ""), ",")
				slices.Sort(allow)
				want := slices.Sorted(slices.Values(methods[tt.path]))
				if !slices.Equal(allow, want) {
					t.Errorf("Allow %q, want %q", res.header.Get("Allow"), strings.Join(want, ", "))
				}
			})
		}
	})
}

// R6 (path ids) is TestPathIDs in errors_test.go.

// R7: text filters with NULs, invalid UTF-8 and control characters; dates outside 1900..9999.
func TestHostileQueryText(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	lists := []struct {
		path, token string
		params      []string
	}{
		{"/v1/discs", "", []string{"name", "artist", "style", "sort"}},
		{"/v1/customers", adminToken, []string{"name", "email", "document"}},
		{"/v1/orders", storefrontToken, []string{"status", "customer_id", "disc_id", "from", "to"}},
	}
	values := []string{"%00", "a%00b", "%ff", "a%ffb", "%c3%28", "a%c3%28b", "%01", "a%01b", "%0a", "a%0ab", "a%7fb"}
	for _, l := range lists {
		for _, param := range l.params {
			for _, v := range values {
				query := param + "=" + v
				t.Run(l.path+"?"+query, func(t *testing.T) {
					res := a.call(t, http.MethodGet, l.path+"?"+query, l.token, nil)
					wantProblem(t, res, http.StatusBadRequest, "invalid-query", []string{param})
				})
			}
		}
	}
	for _, param := range []string{"from", "to"} {
		for _, v := range []string{"0000-01-01T00:30:00+01:00", "9999-12-31T23:59:59-05:00", "10000-01-01", "0001-01-01T00:00:00Z",
			"1899-12-31T23:59:59Z", "1899-12-31"} {
			query := param + "=" + url.QueryEscape(v)
			t.Run("orders "+param+" "+v, func(t *testing.T) {
				res := a.call(t, http.MethodGet, "/v1/orders?"+query, storefrontToken, nil)
				wantProblem(t, res, http.StatusBadRequest, "invalid-query", []string{param})
			})
		}
		for _, v := range []string{"1900-01-01T00:00:00Z", "1900-01-01T01:00:00+01:00", "9999-12-31T23:59:59Z", "1900-01-01", "2026-01-01T00:00:00+14:00"} {
			query := param + "=" + url.QueryEscape(v)
			t.Run("orders accepts "+param+" "+v, func(t *testing.T) {
				decode[model.List[model.Order]](t, a.call(t, http.MethodGet, "/v1/orders?"+query, storefrontToken, nil), http.StatusOK)
			})
		}
	}
}

// R7: a cursor is opaque; one a client changed is refused, and a real one still pages.
func TestHostileCursors(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	var customers []model.Customer
	for i, name := range []string{"alpha 1", "bravo 2", "charlie 3"} {
		d := a.createDisc(t, discBody(name, "artist "+name, 1990+10*i, "Rock", 10))
		customers = append(customers, a.createCustomer(t, customerBody(int64(500+i))))
		a.insertOrder(t, customers[i].ID, d.ID, 1)
	}
	type list struct{ name, path, token, other string } // other: a list where its cursor does not belong
	var lists []list
	for _, key := range model.DiscSortKeys {
		for _, sort := range []string{key, "-" + key} {
			other := "name"
			if key == "name" {
				other = "artist"
			}
			lists = append(lists, list{"discs sort=" + sort, "/v1/discs?limit=1&sort=" + sort, "", "/v1/discs?limit=1&sort=" + other})
		}
	}
	lists = append(lists,
		list{"customers", "/v1/customers?limit=1", adminToken, "/v1/discs?limit=1"},
		list{"orders", "/v1/orders?limit=1", storefrontToken, "/v1/customers?limit=1"})
	type page struct {
		Items      []json.RawMessage `json:"items"`
		NextCursor string            `json:"next_cursor"`
	}
	for _, l := range lists {
		t.Run(l.name, func(t *testing.T) {
			first := decode[page](t, a.call(t, http.MethodGet, l.path, l.token, nil), http.StatusOK)
			if len(first.Items) != 1 || first.NextCursor == "" {
				t.Fatalf("first page of 3 at limit 1: %d items, next_cursor %q", len(first.Items), first.NextCursor)
			}
			t.Run("real cursor pages", func(t *testing.T) {
				second := decode[page](t, a.call(t, http.MethodGet, l.path+"&cursor="+url.QueryEscape(first.NextCursor), l.token, nil), http.StatusOK)
				if len(second.Items) != 1 || bytes.Equal(second.Items[0], first.Items[0]) || second.NextCursor == "" {
					t.Fatalf("second page: %d items (%s), next_cursor %q; want the second of 3", len(second.Items), second.Items, second.NextCursor)
				}
			})
			// A cursor is base64url JSON, a dot and a signature. The tampered ones keep the real signature, as
			// an attacker would.
			payload, sig, _ := strings.Cut(first.NextCursor, ".")
			encode := func(t *testing.T, v any) string {
				return base64.RawURLEncoding.EncodeToString(mustJSON(t, v)) + "." + sig
			}
			raw, err := base64.RawURLEncoding.DecodeString(payload)
			var real map[string]any
			if err == nil {
				err = json.Unmarshal(raw, &real)
			}
			if err != nil {
				t.Fatalf("next_cursor %q is not base64url JSON: %v", first.NextCursor, err)
			}
			// changed is the cursor with edit applied, or "" when edit left it as it was.
			changed := func(edit func(m map[string]any)) string {
				m := map[string]any{}
				for k, v := range real {
					m[k] = v
				}
				edit(m)
				if cmp.Equal(m, real) {
					return ""
				}
				return encode(t, m)
			}
			otherSort := map[string]string{"name": "artist", "id": "name", "-reserved_at": "reserved_at"}[fmt.Sprint(real["s"])]
			if otherSort == "" {
				otherSort = "name"
			}
			tampered := []struct{ name, cursor string }{
				{"id changed", changed(func(m map[string]any) {
					if id, ok := m["id"].(float64); ok {
						m["id"] = id + 1
					}
					if oid, ok := m["oid"].(string); ok {
						m["oid"] = oid[:len(oid)-1] + map[bool]string{true: "1", false: "0"}[oid[len(oid)-1] == '0']
					}
				})},
				{"a digit of the value changed", changed(func(m map[string]any) {
					v, _ := m["v"].(string)
					if i := strings.IndexAny(v, "0123456789"); i >= 0 {
						m["v"] = v[:i] + string('0'+(v[i]-'0'+1)%10) + v[i+1:]
					} else {
						m["v"] = v + "a"
					}
				})},
				{"value NUL", changed(func(m map[string]any) { m["v"] = "\u0000" })},
				{"value not a date", changed(func(m map[string]any) { m["v"] = "not-a-date" })},
				{"value a huge number", changed(func(m map[string]any) { m["v"] = "999999999999999999999999999999" })},
				{"value removed", changed(func(m map[string]any) { delete(m, "v") })},
				{"id huge", changed(func(m map[string]any) {
					if _, ok := m["oid"]; ok {
						m["oid"] = "ffffffff-ffff-ffff-ffff-ffffffffffff"
					} else {
						m["id"] = int64(9223372036854775807)
					}
				})},
				{"sort changed", changed(func(m map[string]any) { m["s"] = otherSort })},
				{"member added", changed(func(m map[string]any) { m["x"] = 1 })},
				{"empty object", encode(t, map[string]any{})},
				{"JSON array", encode(t, []any{real})},
				{"garbage", "garbage"},
				{"signature removed", payload},
				{"signature emptied", payload + "."},
				{"signature of another cursor", payload + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 16))},
				{"random bytes", base64.RawURLEncoding.EncodeToString([]byte{0x8f, 0x00, 0xff, 0x10})},
			}
			for _, tt := range tampered {
				t.Run(tt.name, func(t *testing.T) {
					if tt.cursor == "" {
						t.Skipf("this change leaves this list's cursor as it was")
					}
					res := a.call(t, http.MethodGet, l.path+"&cursor="+url.QueryEscape(tt.cursor), l.token, nil)
					wantProblem(t, res, http.StatusBadRequest, "invalid-query", []string{"cursor"})
				})
			}
			t.Run("used on another list or sort order", func(t *testing.T) {
				res := a.call(t, http.MethodGet, l.other+"&cursor="+url.QueryEscape(first.NextCursor), adminToken, nil)
				wantProblem(t, res, http.StatusBadRequest, "invalid-query", []string{"cursor"})
			})
		})
	}
}

// R8: bodies that are not JSON, not UTF-8, null, duplicated, mis-cased or absurdly nested.
func TestHostileBodies(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	// Keys that match a field only by case or by Unicode case folding (U+017F long s, U+212A Kelvin sign).
	variants := map[string][]struct {
		key   string
		value any
	}{
		"create customer": {{"NAME", "Ana"}, {"Email", "x@example.com"}},
		"patch customer":  {{"Name", "Ana"}, {"PHONE", "11912345678"}},
		"create disc":     {{"ſtock", 5}, {"stoc\u212a", 5}, {"Price_cents", 100}},
		"patch disc":      {{"ſtock", 5}, {"ſtyle", "Jazz"}, {"STOCK", 5}},
		"restock":         {{"Delta", 1}, {"DELTA", 1}},
		"place order":     {{"Quantity", 1}, {"cuſtomer_id", 1}, {"diſc_id", 1}},
	}
	badUTF8 := []string{"\xff\xfe", "Bj\xc3", "\xc0\xaf", "\xed\xa0\x80", "ok\x80ok"}
	deepArray := `{"name":` + strings.Repeat("[", 20_000) + strings.Repeat("]", 20_000) + `}`
	deepObject := `{"name":` + strings.Repeat(`{"a":`, 5_000) + "1" + strings.Repeat("}", 5_000) + `}`
	for _, r := range bodyRoutes(t, a) {
		t.Run(r.name, func(t *testing.T) {
			do := func(t *testing.T, body []byte) response {
				t.Helper()
				return a.do(t, request{method: r.method, path: r.path, token: r.token, body: body})
			}
			for _, body := range []string{"hello", "<xml/>", "{", `{"a":1,}`, "\x00"} {
				t.Run(fmt.Sprintf("not JSON %q", body), func(t *testing.T) {
					wantProblem(t, do(t, []byte(body)), http.StatusBadRequest, "malformed-json", nil)
				})
			}
			for _, bad := range badUTF8 {
				if r.text != "" {
					t.Run(fmt.Sprintf("invalid UTF-8 %q in a value", bad), func(t *testing.T) {
						wantProblem(t, do(t, withRaw(t, r.forField(r.text), r.text, `"`+bad+`"`)), http.StatusBadRequest, "malformed-json", nil)
					})
				}
				t.Run(fmt.Sprintf("invalid UTF-8 %q in a key", bad), func(t *testing.T) {
					wantProblem(t, do(t, withMember(t, r.valid(), `"`+bad+`":1`)), http.StatusBadRequest, "malformed-json", nil)
				})
			}
			// In a PATCH null would mean "remove the field", which no field allows: 422. In a POST null is the
			// field left out: a required one is missing (422 naming it), an optional one takes its default.
			optional := map[string]bool{"phone": true, "stock": true, "sale_starts_at": true, "per_customer_limit": true}
			for _, f := range r.fields {
				t.Run("null "+f, func(t *testing.T) {
					res := do(t, mustJSON(t, r.forField(f).with(f, nil)))
					if r.method == http.MethodPost && optional[f] {
						if res.status >= 300 {
							t.Fatalf("null for optional %s: status %d, want 2xx: %s", f, res.status, res)
						}
						return
					}
					wantProblem(t, res, http.StatusUnprocessableEntity, "validation", []string{f})
				})
			}
			t.Run("duplicate key", func(t *testing.T) {
				b := r.valid()
				var key string
				for k := range b {
					key = max(key, k) // any key; the largest, so the case name is stable
				}
				wantNaming(t, do(t, withMember(t, b, string(mustJSON(t, key))+":"+string(mustJSON(t, b[key])))), http.StatusUnprocessableEntity, "validation", key)
			})
			for _, v := range variants[r.name] {
				t.Run("key "+v.key, func(t *testing.T) {
					wantNaming(t, do(t, mustJSON(t, r.valid().with(v.key, v.value))), http.StatusUnprocessableEntity, "validation", v.key)
				})
			}
			if r.name == "create disc" {
				t.Run(`escaped key "\u017ftock"`, func(t *testing.T) {
					wantNaming(t, do(t, withMember(t, r.valid(), `"\u017ftock":5`)), http.StatusUnprocessableEntity, "validation", "ſtock")
				})
			}
			for _, body := range []string{`[]`, `[{}]`, `"x"`, `42`, `true`, `null`} {
				t.Run("top-level "+body, func(t *testing.T) {
					res := do(t, []byte(body))
					if res.status != http.StatusBadRequest && res.status != http.StatusUnprocessableEntity {
						t.Fatalf("status %d; want 400 or 422: %s", res.status, res)
					}
					wellFormed(t, res)
				})
			}
			for name, body := range map[string]string{"deep arrays": deepArray, "deep objects": deepObject} {
				t.Run(name, func(t *testing.T) {
					res := do(t, []byte(body))
					if res.status < 400 || res.status >= 500 {
						t.Fatalf("status %d; want a 4xx: %.300s", res.status, res)
					}
					wellFormed(t, res)
				})
			}
		})
	}
}

// stillServed checks that the disc list and each disc still answer: nothing unrepresentable was stored.
func stillServed(t *testing.T, a *testAPI, ids ...int64) {
	t.Helper()
	for _, path := range []string{"/v1/discs", "/v1/discs?archived=false", "/v1/discs?sort=-created_at&limit=100"} {
		if res := a.call(t, http.MethodGet, path, "", nil); res.status != http.StatusOK {
			t.Errorf("GET %s: %.300s", path, res)
		}
	}
	for _, id := range ids {
		if res := a.call(t, http.MethodGet, fmt.Sprintf("/v1/discs/%d", id), "", nil); res.status != http.StatusOK {
			t.Errorf("GET /v1/discs/%d: %.300s", id, res)
		}
	}
}

// R9: sale_starts_at between 1900-01-01T00:00:00Z and 9999-12-31T23:59:59Z once in UTC.
func TestHostileSaleTimes(t *testing.T) {
	t.Parallel()
	refused := []string{"0000-01-01T00:30:00+01:00", "9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00Z", "1899-12-31T23:59:59Z",
		"1900-01-01T00:59:59+01:00"}
	accepted := []string{"2100-01-01T00:00:00+14:00", "1900-01-01T00:00:00Z", "1900-01-01T01:00:00+01:00", "9999-12-31T23:59:59Z",
		"9999-12-31T18:59:59-05:00"}
	for _, how := range []string{"create", "patch"} {
		send := func(t *testing.T, a *testAPI, d model.Disc, v string) response {
			if how == "create" {
				return a.call(t, http.MethodPost, "/v1/discs", adminToken, discBody("Later", "Hostile", 2001, "Rock", 1).with("sale_starts_at", v))
			}
			return a.call(t, http.MethodPatch, fmt.Sprintf("/v1/discs/%d", d.ID), adminToken, obj{"sale_starts_at": v})
		}
		for _, v := range refused {
			t.Run(how+" refuses "+v, func(t *testing.T) {
				t.Parallel()
				a := newAPI(t) // its own: a stored bad value would break the lists of every other case
				d := a.createDisc(t, discBody("Standing", "Hostile", 2001, "Rock", 1))
				res := send(t, a, d, v)
				stillServed(t, a, d.ID)
				wantProblem(t, res, http.StatusUnprocessableEntity, "validation", []string{"sale_starts_at"})
				if got := decode[model.Disc](t, a.call(t, http.MethodGet, fmt.Sprintf("/v1/discs/%d", d.ID), "", nil), http.StatusOK); !got.SaleStartsAt.Equal(d.SaleStartsAt) {
					t.Errorf("a refused change moved sale_starts_at from %v to %v", d.SaleStartsAt, got.SaleStartsAt)
				}
			})
		}
		for _, v := range accepted {
			t.Run(how+" accepts "+v, func(t *testing.T) {
				t.Parallel()
				a := newAPI(t)
				d := a.createDisc(t, discBody("Standing", "Hostile", 2001, "Rock", 1))
				want, err := time.Parse(time.RFC3339, v)
				if err != nil {
					t.Fatal(err)
				}
				res := send(t, a, d, v)
				status := map[string]int{"create": http.StatusCreated, "patch": http.StatusOK}[how]
				got := decode[model.Disc](t, res, status)
				if !got.SaleStartsAt.Equal(want) {
					t.Errorf("sale_starts_at %v, want %v", got.SaleStartsAt, want)
				}
				stillServed(t, a, d.ID, got.ID)
			})
		}
	}
}

// R10: stock never exceeds model.MaxStock, whatever the route.
func TestHostileStockLimit(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	near := a.createDisc(t, discBody("Near", "Max", 2000, "Rock", model.MaxStock-1))
	empty := a.createDisc(t, discBody("Empty", "Max", 2000, "Rock", 0))
	patched := a.createDisc(t, discBody("Patched", "Max", 2000, "Rock", 3))
	stockOf := func(t *testing.T, id int64) int64 {
		t.Helper()
		return decode[model.Disc](t, a.call(t, http.MethodGet, fmt.Sprintf("/v1/discs/%d", id), "", nil), http.StatusOK).Stock
	}
	steps := []struct {
		name   string
		disc   int64
		method string
		suffix string
		body   obj
		want   int64 // stock after the step
		status int
	}{
		{"max-1 plus 2", near.ID, http.MethodPost, "/restock", obj{"delta": 2}, model.MaxStock - 1, http.StatusConflict},
		{"max-1 plus 1 reaches the maximum", near.ID, http.MethodPost, "/restock", obj{"delta": 1}, model.MaxStock, http.StatusOK},
		{"max plus 1", near.ID, http.MethodPost, "/restock", obj{"delta": 1}, model.MaxStock, http.StatusConflict},
		{"0 plus max", empty.ID, http.MethodPost, "/restock", obj{"delta": model.MaxStock}, model.MaxStock, http.StatusOK},
		{"max plus max", empty.ID, http.MethodPost, "/restock", obj{"delta": model.MaxStock}, model.MaxStock, http.StatusConflict},
		{"patched to the maximum", patched.ID, http.MethodPatch, "", obj{"stock": model.MaxStock}, model.MaxStock, http.StatusOK},
		{"patched maximum plus 1", patched.ID, http.MethodPost, "/restock", obj{"delta": 1}, model.MaxStock, http.StatusConflict},
	}
	for _, tt := range steps {
		t.Run(tt.name, func(t *testing.T) {
			res := a.call(t, tt.method, fmt.Sprintf("/v1/discs/%d", tt.disc)+tt.suffix, adminToken, tt.body)
			if tt.status == http.StatusConflict {
				wantKind(t, res, http.StatusConflict, "stock-limit")
			} else if got := decode[model.Disc](t, res, tt.status); got.Stock != tt.want {
				t.Errorf("answered stock %d, want %d", got.Stock, tt.want)
			}
			if got := stockOf(t, tt.disc); got != tt.want {
				t.Errorf("stock %d after the step, want %d", got, tt.want)
			}
		})
	}
	if n := a.assertLedger(t); n != 3 {
		t.Errorf("ledger checked %d discs, want 3", n)
	}
}

// R10: integer fields take whole numbers within int64, written as integers.
func TestHostileIntegers(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	values := []string{"9223372036854775808", "-9223372036854775809", "1e400", "1.5", "-0.0", "1e2", "0.0"}
	for _, r := range bodyRoutes(t, a) {
		for _, f := range r.ints {
			for _, v := range values {
				t.Run(r.name+" "+f+" "+v, func(t *testing.T) {
					res := a.do(t, request{method: r.method, path: r.path, token: r.token, body: withRaw(t, r.forField(f), f, v)})
					wantProblem(t, res, http.StatusUnprocessableEntity, "validation", []string{f})
				})
			}
		}
	}
}

// R11: names hold visible text, and no bidi controls.
func TestHostileNames(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	cu := a.createCustomer(t, customerBody(1))
	d := a.createDisc(t, discBody("Homogenic", "Björk", 1997, "Pop", 3))
	refused := []struct{ name, value string }{
		{"zero width space", "\u200b"}, {"zero width non-joiner", "\u200c"}, {"zero width joiner", "\u200d"},
		{"word joiner", "\u2060"}, {"byte order mark", "\ufeff"}, {"zero-width mix", "\u200b\u200c\u200d\u2060\ufeff"},
		{"combining marks alone", "\u0301\u0308"}, {"zero width between spaces", " \u200b "}, {"no-break spaces", "\u00a0\u00a0"}, {"em and thin spaces", "\u2003\u2009"},
		{"ideographic space", "\u3000"},
	}
	for _, r := range []rune{0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069} {
		refused = append(refused, struct{ name, value string }{fmt.Sprintf("U+%04X inside", r), "Ana" + string(r) + "Silva"})
	}
	type target struct {
		name, method, path, token, field string
		body                             func(field, v string) obj
	}
	seed := int64(100)
	targets := []target{
		{"create customer", http.MethodPost, "/v1/customers", storefrontToken, "name",
			func(f, v string) obj { seed++; return customerBody(seed).with(f, v) }},
		{"patch customer", http.MethodPatch, fmt.Sprintf("/v1/customers/%d", cu.ID), storefrontToken, "name",
			func(f, v string) obj { return obj{f: v} }},
	}
	for _, f := range []string{"name", "artist", "style"} {
		targets = append(targets,
			target{"create disc", http.MethodPost, "/v1/discs", adminToken, f,
				func(f, v string) obj { return discBody("Disc", "Artist", 2000, "Rock", 1).with(f, v) }},
			target{"patch disc", http.MethodPatch, fmt.Sprintf("/v1/discs/%d", d.ID), adminToken, f,
				func(f, v string) obj { return obj{f: v} }})
	}
	for _, tg := range targets {
		for _, tt := range refused {
			t.Run(tg.name+" "+tg.field+" "+tt.name, func(t *testing.T) {
				res := a.call(t, tg.method, tg.path, tg.token, tg.body(tg.field, tt.value))
				wantProblem(t, res, http.StatusUnprocessableEntity, "validation", []string{tg.field})
			})
		}
	}
	t.Run("refused patches changed nothing", func(t *testing.T) {
		if got := decode[model.Customer](t, a.call(t, http.MethodGet, fmt.Sprintf("/v1/customers/%d", cu.ID), storefrontToken, nil), http.StatusOK); !cmp.Equal(cu, got) {
			t.Errorf("customer (-before +after):\n%s", cmp.Diff(cu, got))
		}
		if got := decode[model.Disc](t, a.call(t, http.MethodGet, fmt.Sprintf("/v1/discs/%d", d.ID), "", nil), http.StatusOK); !cmp.Equal(d, got) {
			t.Errorf("disc (-before +after):\n%s", cmp.Diff(d, got))
		}
	})
	for _, v := range []string{"Björk", "坂本龍一", "Sigur Rós"} {
		t.Run("accepts "+v, func(t *testing.T) {
			seed++
			if got := a.createCustomer(t, customerBody(seed).with("name", v)); got.Name != v {
				t.Errorf("customer name %q, want %q", got.Name, v)
			}
			got := a.createDisc(t, discBody(v, v, 2000, v, 1))
			if got.Name != v || got.Artist != v || got.Style != v {
				t.Errorf("disc name %q, artist %q, style %q; want %q", got.Name, got.Artist, got.Style, v)
			}
			patched := decode[model.Disc](t, a.call(t, http.MethodPatch, fmt.Sprintf("/v1/discs/%d", got.ID), adminToken, obj{"name": v + " II"}), http.StatusOK)
			if patched.Name != v+" II" {
				t.Errorf("patched name %q, want %q", patched.Name, v+" II")
			}
		})
	}
}

// R12: a phone has digits.
func TestHostilePhones(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	cu := a.createCustomer(t, customerBody(1))
	path := fmt.Sprintf("/v1/customers/%d", cu.ID)
	for i, v := range []string{"()-", "--", "...", "+", "( )", "- . -", "+()"} {
		t.Run("create "+v, func(t *testing.T) {
			res := a.call(t, http.MethodPost, "/v1/customers", storefrontToken, customerBody(int64(10+i)).with("phone", v))
			wantProblem(t, res, http.StatusUnprocessableEntity, "validation", []string{"phone"})
		})
		t.Run("patch "+v, func(t *testing.T) {
			wantProblem(t, a.call(t, http.MethodPatch, path, storefrontToken, obj{"phone": v}), http.StatusUnprocessableEntity, "validation", []string{"phone"})
		})
	}
	if got := decode[model.Customer](t, a.call(t, http.MethodGet, path, storefrontToken, nil), http.StatusOK); got.Phone != cu.Phone {
		t.Errorf("refused patches changed the phone from %q to %q", cu.Phone, got.Phone)
	}
	t.Run("accepts (11) 98765-4321", func(t *testing.T) {
		if got := a.createCustomer(t, customerBody(99).with("phone", "(11) 98765-4321")); got.Phone != "11987654321" {
			t.Errorf("phone %q, want 11987654321", got.Phone)
		}
		got := decode[model.Customer](t, a.call(t, http.MethodPatch, path, storefrontToken, obj{"phone": "(11) 98765-4321"}), http.StatusOK)
		if got.Phone != "11987654321" {
			t.Errorf("patched phone %q, want 11987654321", got.Phone)
		}
	})
}

// R13: a header that must be given once is refused when repeated or empty.
func TestHostileDuplicateHeaders(t *testing.T) {
	t.Parallel()
	a := servedWith(t, false)
	cu := a.createCustomer(t, customerBody(1))
	d := a.createDisc(t, discBody("Once", "Hostile", 2001, "Rock", 10).without("per_customer_limit"))
	order := string(mustJSON(t, obj{"customer_id": cu.ID, "disc_id": d.ID, "quantity": 1}))
	host := []string{"Host: 127.0.0.1", "Connection: close"}
	get := func(headers ...string) []byte {
		return rawRequest("GET /v1/customers HTTP/1.1", append(slices.Clone(host), headers...), "")
	}
	buy := func(headers ...string) []byte {
		return rawRequest("POST /v1/orders HTTP/1.1", append(slices.Clone(host), append([]string{"Content-Type: application/json",
			"Content-Length: " + strconv.Itoa(len(order))}, headers...)...), order)
	}
	bearer := func(token string) string { return "Authorization: Bearer " + token }
	tests := []struct {
		name string
		raw  []byte
	}{
		{"two equal admin Authorizations", get(bearer(adminToken), bearer(adminToken))},
		{"admin and storefront Authorizations", get(bearer(adminToken), bearer(storefrontToken))},
		{"two Authorizations on an order", buy(bearer(storefrontToken), bearer(storefrontToken))},
		{"two different Idempotency-Keys", buy(bearer(storefrontToken), "Idempotency-Key: k-1", "Idempotency-Key: k-2")},
		{"two equal Idempotency-Keys", buy(bearer(storefrontToken), "Idempotency-Key: k-3", "Idempotency-Key: k-3")},
		{"empty Idempotency-Key", buy(bearer(storefrontToken), "Idempotency-Key:")},
		{"blank Idempotency-Key", buy(bearer(storefrontToken), "Idempotency-Key:    ")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantKind(t, a.mustExchange(t, tt.raw), http.StatusBadRequest, "invalid-header")
		})
	}
	if got := decode[model.Disc](t, a.call(t, http.MethodGet, fmt.Sprintf("/v1/discs/%d", d.ID), "", nil), http.StatusOK); got.Available != 10 {
		t.Errorf("available %d after refused orders only; want 10 (a refused order took stock)", got.Available)
	}
}

// R14: racing stock changes and orders answer 200 or 409 concurrent-change, and leave a consistent stock.
func TestHostileConcurrentStock(t *testing.T) {
	t.Parallel()
	const initial, changes, buyers = 100, 50, 5
	tests := []struct {
		name   string
		suffix string
		body   func(i int) obj
	}{
		{"patch stock", "", func(i int) obj { return obj{"stock": 50 + 2*i} }}, // 50..148 around the initial 100
		{"restock +1/-1", "/restock", func(i int) obj { return obj{"delta": 1 - 2*(i%2)} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := servedWith(t, true)
			c := wireClient(t)
			d := a.createDisc(t, discBody("Contested", "Race", 2020, "Rock", initial).without("per_customer_limit"))
			path := fmt.Sprintf("/v1/discs/%d", d.ID)
			var ids []int64
			for i := range buyers {
				ids = append(ids, a.createCustomer(t, customerBody(int64(700+i))).ID)
			}
			var (
				mu      sync.Mutex
				wg      sync.WaitGroup
				stocks  []int64 // the stock of each 200
				deltas  int64   // the sum of the deltas answered 200
				sold    int64   // units of the orders answered 201
				refused = map[string]int{}
			)
			start := make(chan struct{})
			method := http.MethodPost
			if tt.suffix == "" {
				method = http.MethodPatch
			}
			for i := range changes {
				body := tt.body(i)
				raw := mustJSON(t, body)
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					res, err := a.sendErr(c, wireRequest{method: method, path: path + tt.suffix, token: adminToken, body: raw})
					if err != nil {
						t.Errorf("change %v: no answer: %v", body, err)
						return
					}
					wellFormed(t, res)
					mu.Lock()
					defer mu.Unlock()
					switch res.status {
					case http.StatusOK:
						var got model.Disc
						if err := json.Unmarshal(res.body, &got); err != nil {
							t.Errorf("change %v: %v: %s", body, err, res)
						}
						stocks = append(stocks, got.Stock)
						if delta, ok := body["delta"].(int); ok {
							deltas += int64(delta)
						}
					case http.StatusConflict:
						var p problem.Problem
						_ = json.Unmarshal(res.body, &p)
						refused[p.Type]++
						if p.Type != problem.TypePrefix+"concurrent-change" || res.header.Get("Retry-After") == "" {
							t.Errorf("change %v: 409 %s with Retry-After %q; want concurrent-change with a Retry-After", body, p.Type, res.header.Get("Retry-After"))
						}
					default:
						t.Errorf("change %v: %.300s; want 200 or 409 concurrent-change", body, res)
					}
				}()
			}
			for _, buyer := range ids {
				raw := mustJSON(t, obj{"customer_id": buyer, "disc_id": d.ID, "quantity": 1})
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					res, err := a.sendErr(c, wireRequest{method: http.MethodPost, path: "/v1/orders", token: storefrontToken, body: raw})
					if err != nil {
						t.Errorf("order of customer %d: no answer: %v", buyer, err)
						return
					}
					wellFormed(t, res)
					mu.Lock()
					defer mu.Unlock()
					switch res.status {
					case http.StatusCreated:
						sold++
					case http.StatusConflict:
					default:
						t.Errorf("order of customer %d: %.300s; want 201 (or a 409)", buyer, res)
					}
				}()
			}
			close(start)
			wg.Wait()
			t.Logf("%d changes answered 200, refusals %v, %d units sold", len(stocks), refused, sold)
			if len(stocks) == 0 {
				t.Fatalf("no change was applied at all")
			}
			ctx := context.Background()
			testenv.Eventually(t, 15*time.Second, "the writer did not put every confirmed order in Postgres", func() bool {
				var n int64
				if err := a.pool.QueryRow(ctx, `SELECT COALESCE(sum(quantity), 0) FROM orders WHERE disc_id = $1`, d.ID).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n == sold
			})
			var final model.Disc
			testenv.Eventually(t, 10*time.Second, "available never met stock once everything was written", func() bool {
				final = decode[model.Disc](t, a.call(t, http.MethodGet, path, "", nil), http.StatusOK)
				return final.Available == final.Stock
			})
			if tt.suffix == "" {
				ok := slices.ContainsFunc(stocks, func(s int64) bool { return final.Stock <= s && final.Stock >= s-sold })
				if !ok {
					t.Errorf("final stock %d is no stock answered 200 (%v) less at most the %d units sold", final.Stock, stocks, sold)
				}
			} else if want := initial + deltas - sold; final.Stock != want {
				t.Errorf("final stock %d; want %d + %d (deltas answered 200) - %d (sold) = %d", final.Stock, initial, deltas, sold, want)
			}
			if n := a.assertLedger(t); n != 1 {
				t.Errorf("ledger checked %d discs, want 1", n)
			}
		})
	}
}

// A client that sends its headers a byte at a time is cut off by the read timeout, not waited for.
func TestSlowHeadersAreCutOff(t *testing.T) {
	t.Parallel()
	a := servedWith(t, false, server.WithReadTimeout(time.Second))
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(a.base, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		header := "X-Slow: " + strings.Repeat("a", 100)
		for i := range len(header) {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond): // the client's pause between bytes: what is under test
			}
			if _, err := conn.Write([]byte{header[i]}); err != nil {
				return
			}
		}
	}()
	start := time.Now()
	if err := conn.SetReadDeadline(start.Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	var ne net.Error
	switch {
	case err == nil:
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		r := response{status: res.StatusCode, header: res.Header, body: b}
		if r.status != http.StatusRequestTimeout {
			t.Fatalf("answered %d to headers still arriving; want the connection closed or a 408: %.300s", r.status, r)
		}
		wellFormed(t, r)
	case errors.As(err, &ne) && ne.Timeout():
		t.Fatalf("after %v the server still waits for the headers of a client sending a byte every 200 ms; its read timeout is 1 s",
			time.Since(start).Round(time.Millisecond))
	default:
		t.Logf("connection closed after %v: %v", time.Since(start).Round(time.Millisecond), err)
	}
}
