package handler

import (
	"context"
	"net/http"
	"strconv"

	"github.com/cloudwego/hertz/pkg/app"

	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/biz/problem"
)

// CreateDisc handles POST /v1/discs.
func (h *Handler) CreateDisc(ctx context.Context, c *app.RequestContext) {
	var in model.DiscCreate
	var d model.Disc
	err := bind(c, &in, func() error { return in.Validate(h.now()) })
	if err == nil {
		d, err = h.catalog.Create(ctx, in)
	}
	h.created(c, "/v1/discs/"+strconv.FormatInt(d.ID, 10), d, err)
}

// GetDisc handles GET /v1/discs/{id}.
func (h *Handler) GetDisc(ctx context.Context, c *app.RequestContext) {
	byID(h, c, func(id int64) (model.Disc, error) { return h.catalog.Get(ctx, id) })
}

// ListDiscs handles GET /v1/discs.
func (h *Handler) ListDiscs(ctx context.Context, c *app.RequestContext) {
	listPage(h, c, model.ParseDiscQuery, func(q model.DiscQuery) (model.List[model.Disc], error) { return h.catalog.List(ctx, q) })
}

// UpdateDisc handles PATCH /v1/discs/{id}.
func (h *Handler) UpdateDisc(ctx context.Context, c *app.RequestContext) {
	var p model.DiscPatch
	bodyByID(h, c, &p, p.Validate, func(id int64) (model.Disc, error) { return h.catalog.Update(ctx, id, p) })
}

// RestockDisc handles POST /v1/discs/{id}/restock.
func (h *Handler) RestockDisc(ctx context.Context, c *app.RequestContext) {
	var r model.Restock
	bodyByID(h, c, &r, r.Validate, func(id int64) (model.Disc, error) { return h.catalog.Restock(ctx, id, r.Delta) })
}

// DeleteDisc handles DELETE /v1/discs/{id}: 204 when the disc was removed, 200 with the disc when it had
// orders and was archived instead.
func (h *Handler) DeleteDisc(ctx context.Context, c *app.RequestContext) {
	id, err := pathID(c)
	if err != nil {
		problem.Respond(c, h.log, err)
		return
	}
	archived, d, err := h.catalog.Delete(ctx, id)
	switch {
	case err != nil:
		problem.Respond(c, h.log, err)
	case archived:
		c.JSON(http.StatusOK, d)
	default:
		c.Status(http.StatusNoContent)
	}
}
