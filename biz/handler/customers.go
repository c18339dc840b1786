package handler

import (
	"context"
	"strconv"

	"github.com/cloudwego/hertz/pkg/app"

	"github.com/learecordshop/recordshop/biz/model"
)

// CreateCustomer handles POST /v1/customers.
func (h *Handler) CreateCustomer(ctx context.Context, c *app.RequestContext) {
	var in model.CustomerCreate
	var cu model.Customer
	err := bind(c, &in, func() error { return in.Validate(h.now()) })
	if err == nil {
		cu, err = h.customers.Create(ctx, in)
	}
	h.created(c, "/v1/customers/"+strconv.FormatInt(cu.ID, 10), cu, err)
}

// GetCustomer handles GET /v1/customers/{id}.
func (h *Handler) GetCustomer(ctx context.Context, c *app.RequestContext) {
	byID(h, c, func(id int64) (model.Customer, error) { return h.customers.Get(ctx, id) })
}

// ListCustomers handles GET /v1/customers.
func (h *Handler) ListCustomers(ctx context.Context, c *app.RequestContext) {
	listPage(h, c, model.ParseCustomerQuery, func(q model.CustomerQuery) (model.List[model.Customer], error) { return h.customers.List(ctx, q) })
}

// UpdateCustomer handles PATCH /v1/customers/{id}.
func (h *Handler) UpdateCustomer(ctx context.Context, c *app.RequestContext) {
	var p model.CustomerPatch
	bodyByID(h, c, &p, func() error { return p.Validate(h.now()) },
		func(id int64) (model.Customer, error) { return h.customers.Update(ctx, id, p) })
}

// DeactivateCustomer handles POST /v1/customers/{id}/deactivate and DELETE /v1/customers/{id}: the row stays.
func (h *Handler) DeactivateCustomer(ctx context.Context, c *app.RequestContext) {
	byID(h, c, func(id int64) (model.Customer, error) { return h.customers.SetActive(ctx, id, false) })
}

// ReactivateCustomer handles POST /v1/customers/{id}/reactivate.
func (h *Handler) ReactivateCustomer(ctx context.Context, c *app.RequestContext) {
	byID(h, c, func(id int64) (model.Customer, error) { return h.customers.SetActive(ctx, id, true) })
}
