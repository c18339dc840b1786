// Package router is the whole HTTP surface of recordshop at a glance: every route with its method, path,
// the role it needs and its handler, and the middleware every request passes through, in order. It owns that
// table; its tests hold it against biz/apidoc's document.
//
// It must not hold handler logic, business rules or stores: a route names a handler and a role, nothing more.
package router

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/cloudwego/hertz/pkg/app"
	"github.com/cloudwego/hertz/pkg/common/adaptor"
	"github.com/cloudwego/hertz/pkg/route"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/learecordshop/recordshop/biz/edge"
	"github.com/learecordshop/recordshop/biz/handler"
	mw "github.com/learecordshop/recordshop/biz/middleware"
	"github.com/learecordshop/recordshop/biz/problem"
)

// Route is one endpoint. Path uses Hertz's :param syntax.
type Route struct {
	Method  string
	Path    string
	Role    mw.Role
	Handler app.HandlerFunc
}

// Routes lists every endpoint. metrics serves /metrics.
func Routes(h *handler.Handler, metrics app.HandlerFunc) []Route {
	const get, post, patch, del = http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete
	return []Route{
		{get, "/healthz", mw.Public, handler.Healthz},
		{get, "/readyz", mw.Public, h.Readyz},
		{get, "/metrics", mw.Public, metrics},
		{get, "/openapi.json", mw.Public, h.OpenAPI},
		{get, "/docs", mw.Public, h.Docs},
		{get, "/", mw.Public, h.Index},
		{get, "/console", mw.Public, h.Console}, // the page only: its data is the admin route below

		{post, "/v1/customers", mw.Storefront, h.CreateCustomer},
		{get, "/v1/customers", mw.Admin, h.ListCustomers},
		{get, "/v1/customers/:id", mw.Storefront, h.GetCustomer},
		{patch, "/v1/customers/:id", mw.Storefront, h.UpdateCustomer},
		{del, "/v1/customers/:id", mw.Admin, h.DeactivateCustomer},
		{post, "/v1/customers/:id/deactivate", mw.Admin, h.DeactivateCustomer},
		{post, "/v1/customers/:id/reactivate", mw.Admin, h.ReactivateCustomer},

		{get, "/v1/discs", mw.Public, h.ListDiscs},
		{post, "/v1/discs", mw.Admin, h.CreateDisc},
		{get, "/v1/discs/:id", mw.Public, h.GetDisc},
		{patch, "/v1/discs/:id", mw.Admin, h.UpdateDisc},
		{del, "/v1/discs/:id", mw.Admin, h.DeleteDisc},
		{post, "/v1/discs/:id/restock", mw.Admin, h.RestockDisc},

		{post, "/v1/orders", mw.Storefront, h.PlaceOrder},
		{get, "/v1/orders", mw.Storefront, h.ListOrders},
		{get, "/v1/orders/:id", mw.Storefront, h.GetOrder},
		{post, "/v1/orders/:id/cancel", mw.Storefront, h.CancelOrder},

		{get, "/v1/admin/reconcile", mw.Admin, h.Reconcile},
		{post, "/v1/admin/reconcile", mw.Admin, h.Reconcile},
		{get, "/v1/admin/console", mw.Admin, h.ConsoleView},
	}
}

// OpsRoutes lists the endpoints of a process that serves no API (recordshop writer): liveness and metrics.
func OpsRoutes(metrics app.HandlerFunc) []Route {
	return []Route{
		{http.MethodGet, "/healthz", mw.Public, handler.Healthz},
		{http.MethodGet, "/metrics", mw.Public, metrics},
	}
}

// Deps are what Register needs.
type Deps struct {
	Handler  *handler.Handler
	Tokens   mw.Tokens
	Log      *zap.Logger
	Registry *prometheus.Registry
}

// Register puts every route and the shared middleware on engine.
func Register(engine *route.Engine, d Deps) error {
	return register(engine, d, func(metrics app.HandlerFunc) []Route { return Routes(d.Handler, metrics) })
}

// RegisterOps puts the OpsRoutes and the shared middleware on engine; d.Handler and d.Tokens are not used.
func RegisterOps(engine *route.Engine, d Deps) error {
	return register(engine, d, OpsRoutes)
}

func register(engine *route.Engine, d Deps, table func(metrics app.HandlerFunc) []Route) error {
	metrics, err := mw.NewMetrics(d.Registry)
	if err != nil {
		return err
	}
	engine.Use(edge.Routed(), mw.Recover(d.Log), metrics.Handle, mw.AccessLog(d.Log), mw.Framing())
	routes := table(adaptor.HertzHandler(promhttp.HandlerFor(d.Registry, promhttp.HandlerOpts{})))
	for _, r := range routes {
		engine.Handle(r.Method, r.Path, mw.Require(d.Tokens, r.Role), r.Handler)
	}
	engine.NoRoute(func(_ context.Context, c *app.RequestContext) {
		problem.Write(c, problem.ForStatus(http.StatusNotFound, ""))
	})
	engine.NoMethod(func(_ context.Context, c *app.RequestContext) {
		// RFC 9110 asks a 405 to list the methods the resource does take.
		c.Header("Allow", strings.Join(allowed(routes, string(c.Request.URI().Path())), ", "))
		problem.Write(c, problem.ForStatus(http.StatusMethodNotAllowed, ""))
	})
	return nil
}

// allowed lists, sorted, the methods of the routes whose pattern matches path (":param" matches one segment).
func allowed(routes []Route, path string) []string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	var methods []string
	for _, r := range routes {
		pattern := strings.Split(strings.Trim(r.Path, "/"), "/")
		if len(pattern) != len(segs) {
			continue
		}
		match := true
		for i, p := range pattern {
			if p != segs[i] && !(strings.HasPrefix(p, ":") && segs[i] != "") {
				match = false
				break
			}
		}
		if match && !slices.Contains(methods, r.Method) {
			methods = append(methods, r.Method)
		}
	}
	slices.Sort(methods)
	return methods
}
