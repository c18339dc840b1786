package handler

import (
	"context"
	"net/http"
	"strconv"

	"github.com/cloudwego/hertz/pkg/app"

	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/biz/problem"
)

// CreateCustomer handles POST /v1/customers.
func (h *Handler) CreateCustomer(ctx context.Context, c *app.RequestContext) {
	var in model.CustomerCreate
	if err := decodeJSON(c, &in); err != nil {
		problem.Respond(c, h.log, err)
		return
	}
	if err := in.Validate(h.now()); err != nil {
		problem.Respond(c, h.log, err)
		return
	}
	cu, err := h.customers.Create(ctx, in)
	if err != nil {
		problem.Respond(c, h.log, err)
		return
	}
	c.Header("Location", "/v1/customers/"+strconv.FormatInt(cu.ID, 10))
	c.JSON(http.StatusCreated, cu)
}

// GetCustomer handles GET /v1/customers/{id}.
func (h *Handler) GetCustomer(ctx context.Context, c *app.RequestContext) {
	id, err := pathID(c)
	if err == nil {
		var cu model.Customer
		if cu, err = h.customers.Get(ctx, id); err == nil {
			c.JSON(http.StatusOK, cu)
			return
		}
	}
	problem.Respond(c, h.log, err)
}

// ListCustomers handles GET /v1/customers.
func (h *Handler) ListCustomers(ctx context.Context, c *app.RequestContext) {
	q, err := model.ParseCustomerQuery(queryValues(c))
	if err == nil {
		var list model.List[model.Customer]
		if list, err = h.customers.List(ctx, q); err == nil {
			c.JSON(http.StatusOK, list)
			return
		}
	}
	problem.Respond(c, h.log, err)
}

// UpdateCustomer handles PATCH /v1/customers/{id}.
func (h *Handler) UpdateCustomer(ctx context.Context, c *app.RequestContext) {
	id, err := pathID(c)
	if err != nil {
		problem.Respond(c, h.log, err)
		return
	}
	var p model.CustomerPatch
	if err := decodeJSON(c, &p); err != nil {
		problem.Respond(c, h.log, err)
		return
	}
	if err := p.Validate(h.now()); err != nil {
		problem.Respond(c, h.log, err)
		return
	}
	cu, err := h.customers.Update(ctx, id, p)
	if err != nil {
		problem.Respond(c, h.log, err)
		return
	}
	c.JSON(http.StatusOK, cu)
}

// DeactivateCustomer handles POST /v1/customers/{id}/deactivate and DELETE /v1/customers/{id}: the row stays.
func (h *Handler) DeactivateCustomer(ctx context.Context, c *app.RequestContext) {
	h.setActive(ctx, c, false)
}

// ReactivateCustomer handles POST /v1/customers/{id}/reactivate.
func (h *Handler) ReactivateCustomer(ctx context.Context, c *app.RequestContext) {
	h.setActive(ctx, c, true)
}

func (h *Handler) setActive(ctx context.Context, c *app.RequestContext, active bool) {
	id, err := pathID(c)
	if err == nil {
		var cu model.Customer
		if cu, err = h.customers.SetActive(ctx, id, active); err == nil {
			c.JSON(http.StatusOK, cu)
			return
		}
	}
	problem.Respond(c, h.log, err)
}
