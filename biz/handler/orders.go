package handler

import (
	"context"
	"net/http"
	"time"

	"github.com/cloudwego/hertz/pkg/app"
	"github.com/google/uuid"

	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/biz/problem"
)

// PlaceOrder handles POST /v1/orders: 201 with the order (Location), or 200 with Idempotent-Replayed: true for
// a repeat of an earlier request with the same Idempotency-Key.
func (h *Handler) PlaceOrder(ctx context.Context, c *app.RequestContext) {
	start := time.Now()
	var in model.OrderCreate
	key := string(c.GetHeader("Idempotency-Key"))
	err := bind(c, &in, func() error {
		if err := in.Validate(); err != nil {
			return err
		}
		return model.ValidateIdempotencyKey(key)
	})
	if err != nil {
		problem.Respond(c, h.log, err)
		return
	}
	o, replayed, err := h.orders.Place(ctx, in, key)
	defer h.observeOrder(in.DiscID, start, c, err) // after the answer is written, for its status
	if err != nil {
		// Most requests of a launch end here, refused: no order to format, box or point to.
		problem.Respond(c, h.log, err)
		return
	}
	location := "/v1/orders/" + o.ID.String()
	if replayed {
		c.Header("Idempotent-Replayed", "true")
		c.Header("Location", location)
		h.answer(c, http.StatusOK, o, nil)
		return
	}
	h.created(c, location, o, nil)
}

// GetOrder handles GET /v1/orders/{id}.
func (h *Handler) GetOrder(ctx context.Context, c *app.RequestContext) {
	byOrderID(h, c, func(id uuid.UUID) (model.Order, error) { return h.orders.Get(ctx, id) })
}

// ListOrders handles GET /v1/orders.
func (h *Handler) ListOrders(ctx context.Context, c *app.RequestContext) {
	listPage(h, c, model.ParseOrderQuery, func(q model.OrderQuery) (model.List[model.Order], error) { return h.orders.List(ctx, q) })
}

// CancelOrder handles POST /v1/orders/{id}/cancel; cancelling a cancelled order answers it unchanged.
func (h *Handler) CancelOrder(ctx context.Context, c *app.RequestContext) {
	byOrderID(h, c, func(id uuid.UUID) (model.Order, error) { return h.orders.Cancel(ctx, id) })
}

// byOrderID answers 200 with what fn returns for the path's order id (a UUID).
func byOrderID(h *Handler, c *app.RequestContext, fn func(uuid.UUID) (model.Order, error)) {
	id, ok := model.ParseUUID(c.Param("id"))
	var o model.Order
	var err error
	if !ok {
		err = &model.ValidationError{In: "path", Fields: []model.FieldError{{Field: "id", Detail: "must be an order id (a UUID as 8-4-4-4-12 hex digits)"}}}
	} else {
		o, err = fn(id)
	}
	h.answer(c, http.StatusOK, o, err)
}
