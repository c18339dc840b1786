// Package handler holds the HTTP handlers: bind and validate the request, call a service, map its error to
// a problem. No SQL, no Redis, no business rules live here.
package handler

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/learecordshop/recordshop/biz/apidoc"
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
	reconcile *service.Reconciler
	ready     []Check
	log       *zap.Logger
	now       func() time.Time
	docsPage  []byte
	cursors   model.CursorCodec
}

// Deps are what the handlers need; every field is required.
type Deps struct {
	Catalog   *service.Catalog
	Customers *service.Customers
	Orders    *service.Orders
	// Reconciler is nil in Postgres mode, which has no second store to reconcile.
	Reconciler *service.Reconciler
	Ready      []Check
	Log        *zap.Logger
	Now        func() time.Time
	// CursorKey signs the list cursors handed to clients (model.CursorCodec).
	CursorKey []byte
}

// New returns the handlers over deps. It renders the docs page once, from the OpenAPI document.
func New(d Deps) (*Handler, error) {
	page, err := apidoc.RenderPage(apidoc.Spec)
	if err != nil {
		return nil, fmt.Errorf("handler: docs page: %w", err)
	}
	return &Handler{catalog: d.Catalog, customers: d.Customers, orders: d.Orders, reconcile: d.Reconciler, ready: d.Ready, log: d.Log, now: d.Now, docsPage: page,
		cursors: model.NewCursorCodec(d.CursorKey)}, nil
}
