package router_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"

	"github.com/learecordshop/recordshop/biz/apidoc"
	"github.com/learecordshop/recordshop/biz/handler"
	mw "github.com/learecordshop/recordshop/biz/middleware"
	"github.com/learecordshop/recordshop/biz/router"
)

// documented is what the OpenAPI document says of one operation, keyed by "METHOD /path/{id}".
type documented struct {
	// security is nil when the operation has no security of its own, empty when it is public.
	security *[]map[string][]string
}

// specOperations reads every operation of apidoc.Spec.
func specOperations(t *testing.T) map[string]documented {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(apidoc.Spec, &doc); err != nil {
		t.Fatalf("apidoc.Spec does not parse: %v", err)
	}
	ops := map[string]documented{}
	for path, item := range doc.Paths {
		for method, raw := range item {
			switch method {
			case "get", "put", "post", "patch", "delete", "head", "options", "trace":
			default:
				continue // summary, description, parameters, servers of the path item
			}
			var op struct {
				Security *[]map[string][]string `json:"security"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			ops[strings.ToUpper(method)+" "+path] = documented{security: op.Security}
		}
	}
	return ops
}

func routes(t *testing.T) []router.Route {
	t.Helper()
	// The handlers are only listed, never called, so they need no services.
	h, err := handler.New(handler.Deps{Log: zap.NewNop(), Now: time.Now})
	if err != nil {
		t.Fatalf("handler.New: %v", err)
	}
	return router.Routes(h, nil)
}

var hertzParam = regexp.MustCompile(`[:*](\w+)`)

// key names a route the way the document does: "GET /v1/discs/{id}" for Hertz's "/v1/discs/:id".
func key(r router.Route) string {
	return r.Method + " " + hertzParam.ReplaceAllString(r.Path, "{$1}")
}

// checkRoute says what is wrong between a route and the document: missing, or a security that does not
// match the route's role (public: security: []; otherwise the bearer scheme with exactly that role).
func checkRoute(r router.Route, ops map[string]documented) error {
	op, ok := ops[key(r)]
	switch {
	case !ok:
		return fmt.Errorf("route %s is not in biz/apidoc/openapi.json: document it", key(r))
	case op.security == nil:
		return fmt.Errorf("%s has no security of its own; want the %s role's", key(r), r.Role)
	}
	got := *op.security
	if got == nil {
		got = []map[string][]string{}
	}
	want := []map[string][]string{{"bearer": {string(r.Role)}}}
	if r.Role == mw.Public {
		want = []map[string][]string{}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		return fmt.Errorf("%s is a %s route but its security differs (-want +got):\n%s", key(r), r.Role, diff)
	}
	return nil
}

// undocumentedOps lists the document's operations that no route serves, sorted.
func undocumentedOps(rs []router.Route, ops map[string]documented) []string {
	served := map[string]bool{}
	for _, r := range rs {
		served[key(r)] = true
	}
	var out []string
	for k := range ops {
		if !served[k] {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func TestEveryRouteIsDocumented(t *testing.T) {
	ops := specOperations(t)
	rs := routes(t)
	if len(rs) == 0 {
		t.Fatal("router.Routes lists no route")
	}
	seen := map[string]bool{}
	for _, r := range rs {
		t.Run(key(r), func(t *testing.T) {
			if seen[key(r)] {
				t.Errorf("%s is listed twice", key(r))
			}
			seen[key(r)] = true
			if err := checkRoute(r, ops); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestEveryDocumentedOperationIsARoute(t *testing.T) {
	ops := specOperations(t)
	served := map[string]bool{}
	for _, r := range routes(t) {
		served[key(r)] = true
	}
	names := make([]string, 0, len(ops))
	for k := range ops {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		t.Run(k, func(t *testing.T) {
			if !served[k] {
				t.Errorf("the document has %s but no route serves it: remove it or add the route", k)
			}
		})
	}
}

// The two checks above must fail when the route table and the document drift apart; this proves they do on
// a copy of the route table.
func TestDriftIsCaught(t *testing.T) {
	ops := specOperations(t)
	table := routes(t)
	find := func(method, path string) router.Route {
		for _, r := range table {
			if r.Method == method && r.Path == path {
				return r
			}
		}
		t.Fatalf("no route %s %s to build the case from", method, path)
		return router.Route{}
	}
	for _, c := range []struct {
		name  string
		route router.Route
	}{
		{"route added without documentation", router.Route{Method: http.MethodGet, Path: "/v1/no-such-documented-route/:id", Role: mw.Public}},
		{"method added to a documented path", router.Route{Method: http.MethodOptions, Path: "/v1/discs/:id", Role: mw.Admin}},
		{"public route made admin", func() router.Route { r := find(http.MethodGet, "/v1/discs"); r.Role = mw.Admin; return r }()},
		{"admin route made public", func() router.Route { r := find(http.MethodPost, "/v1/discs"); r.Role = mw.Public; return r }()},
		{"admin route made storefront", func() router.Route {
			r := find(http.MethodGet, "/v1/customers")
			r.Role = mw.Storefront
			return r
		}()},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := checkRoute(c.route, ops); err == nil {
				t.Errorf("checkRoute accepted %s as %s", key(c.route), c.route.Role)
			}
		})
	}

	t.Run("route removed but still documented", func(t *testing.T) {
		fewer := slices.DeleteFunc(slices.Clone(table), func(r router.Route) bool {
			return r.Method == http.MethodPost && r.Path == "/v1/discs/:id/restock"
		})
		if diff := cmp.Diff([]string{"POST /v1/discs/{id}/restock"}, undocumentedOps(fewer, ops)); diff != "" {
			t.Errorf("operations without a route (-want +got):\n%s", diff)
		}
	})
	t.Run("real table in step", func(t *testing.T) {
		if got := undocumentedOps(table, ops); len(got) != 0 {
			t.Errorf("operations without a route: %v", got)
		}
	})
}
