// Package handler holds the HTTP handlers: bind the request (strict JSON, bounded size), validate it with
// biz/model, call a service, and answer with the result or map the service's error through biz/problem. It owns
// what an endpoint reads from the request and writes back: status, headers (Location, Idempotent-Replayed),
// body; plus /healthz, /readyz and the docs page.
//
// It must not touch a store or hold a rule: no SQL, no Redis, no import of dal, no decision a service should
// make (a limit, a stock check, a retry). Roles and routes are biz/router's, the transport is biz/edge's.
package handler

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/learecordshop/recordshop/biz/apidoc"
	"github.com/learecordshop/recordshop/biz/console"
	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/biz/service"
)

// Check is one dependency that /readyz asks.
type Check struct {
	Name string
	Ping func(ctx context.Context) error
}

// Handler serves every endpoint.
type Handler struct {
	catalog   *service.Catalog
	customers *service.Customers
	orders    *service.Orders
	reconcile Reconciles
	ready     []Check
	log       *zap.Logger
	now       func() time.Time
	docsPage  []byte
	cursors   model.CursorCodec
	console   *console.Console
	pages     consolePages
}

// Deps are what the handlers need; every field is required.
type Deps struct {
	Catalog   *service.Catalog
	Customers *service.Customers
	Orders    *service.Orders
	// Reconciler is *service.Reconciler, or NotReconcilable in Postgres mode, which has no second store.
	Reconciler Reconciles
	Ready      []Check
	Log        *zap.Logger
	Now        func() time.Time
	// CursorKey signs the list cursors handed to clients (model.CursorCodec).
	CursorKey []byte
	// Console is the launch console's view, and the meter PlaceOrder counts its answers in.
	Console *console.Console
}

// New returns the handlers over deps. It renders the docs page once, from the OpenAPI document.
func New(d Deps) (*Handler, error) {
	page, err := apidoc.RenderPage(apidoc.Spec)
	if err != nil {
		return nil, fmt.Errorf("handler: docs page: %w", err)
	}
	pages, err := newConsolePages()
	if err != nil {
		return nil, fmt.Errorf("handler: console pages: %w", err)
	}
	return &Handler{catalog: d.Catalog, customers: d.Customers, orders: d.Orders, reconcile: d.Reconciler, ready: d.Ready, log: d.Log, now: d.Now, docsPage: page,
		cursors: model.NewCursorCodec(d.CursorKey), console: d.Console, pages: pages}, nil
}
