package handler

import (
	"context"
	"net/http"

	"github.com/cloudwego/hertz/pkg/app"
	"github.com/google/uuid"

	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/biz/problem"
)

// PlaceOrder handles POST /v1/orders: 201 with the order (Location), or 200 with Idempotent-Replayed: true for
// a repeat of an earlier request with the same Idempotency-Key.
func (h *Handler) PlaceOrder(ctx context.Context, c *app.RequestContext) {
	var in model.OrderCreate
	if err := decodeJSON(c, &in); err != nil {
		problem.Respond(c, h.log, err)
		return
	}
	key := string(c.GetHeader("Idempotency-Key"))
	if err := in.Validate(); err != nil {
		problem.Respond(c, h.log, err)
		return
	}
	if err := model.ValidateIdempotencyKey(key); err != nil {
		problem.Respond(c, h.log, err)
		return
	}
	o, replayed, err := h.orders.Place(ctx, in, key)
	if err != nil {
		problem.Respond(c, h.log, err)
		return
	}
	c.Header("Location", "/v1/orders/"+o.ID.String())
	if replayed {
		c.Header("Idempotent-Replayed", "true")
		c.JSON(http.StatusOK, o)
		return
	}
	c.JSON(http.StatusCreated, o)
}

// GetOrder handles GET /v1/orders/{id}.
func (h *Handler) GetOrder(ctx context.Context, c *app.RequestContext) {
	id, err := orderID(c)
	if err == nil {
		var o model.Order
		if o, err = h.orders.Get(ctx, id); err == nil {
			c.JSON(http.StatusOK, o)
			return
		}
	}
	problem.Respond(c, h.log, err)
}

// ListOrders handles GET /v1/orders.
func (h *Handler) ListOrders(ctx context.Context, c *app.RequestContext) {
	q, err := model.ParseOrderQuery(queryValues(c))
	if err == nil {
		var list model.List[model.Order]
		if list, err = h.orders.List(ctx, q); err == nil {
			c.JSON(http.StatusOK, list)
			return
		}
	}
	problem.Respond(c, h.log, err)
}

// CancelOrder handles POST /v1/orders/{id}/cancel; cancelling a cancelled order answers it unchanged.
func (h *Handler) CancelOrder(ctx context.Context, c *app.RequestContext) {
	id, err := orderID(c)
	if err == nil {
		var o model.Order
		if o, err = h.orders.Cancel(ctx, id); err == nil {
			c.JSON(http.StatusOK, o)
			return
		}
	}
	problem.Respond(c, h.log, err)
}

func orderID(c *app.RequestContext) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return id, &model.ValidationError{In: "path", Fields: []model.FieldError{{Field: "id", Detail: "must be an order id (a UUID)"}}}
	}
	return id, nil
}
