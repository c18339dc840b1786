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
	if err := decodeJSON(c, &in); err != nil {
		problem.Respond(c, h.log, err)
		return
	}
	if err := in.Validate(h.now()); err != nil {
		problem.Respond(c, h.log, err)
		return
	}
	d, err := h.catalog.Create(ctx, in)
	if err != nil {
		problem.Respond(c, h.log, err)
		return
	}
	c.Header("Location", "/v1/discs/"+strconv.FormatInt(d.ID, 10))
	c.JSON(http.StatusCreated, d)
}

// GetDisc handles GET /v1/discs/{id}.
func (h *Handler) GetDisc(ctx context.Context, c *app.RequestContext) {
	id, err := pathID(c)
	if err == nil {
		var d model.Disc
		if d, err = h.catalog.Get(ctx, id); err == nil {
			c.JSON(http.StatusOK, d)
			return
		}
	}
	problem.Respond(c, h.log, err)
}

// ListDiscs handles GET /v1/discs.
func (h *Handler) ListDiscs(ctx context.Context, c *app.RequestContext) {
	q, err := model.ParseDiscQuery(queryValues(c))
	if err == nil {
		var list model.List[model.Disc]
		if list, err = h.catalog.List(ctx, q); err == nil {
			c.JSON(http.StatusOK, list)
			return
		}
	}
	problem.Respond(c, h.log, err)
}

// UpdateDisc handles PATCH /v1/discs/{id}.
func (h *Handler) UpdateDisc(ctx context.Context, c *app.RequestContext) {
	id, err := pathID(c)
	if err != nil {
		problem.Respond(c, h.log, err)
		return
	}
	var p model.DiscPatch
	if err := decodeJSON(c, &p); err != nil {
		problem.Respond(c, h.log, err)
		return
	}
	if err := p.Validate(); err != nil {
		problem.Respond(c, h.log, err)
		return
	}
	d, err := h.catalog.Update(ctx, id, p)
	if err != nil {
		problem.Respond(c, h.log, err)
		return
	}
	c.JSON(http.StatusOK, d)
}

// RestockDisc handles POST /v1/discs/{id}/restock.
func (h *Handler) RestockDisc(ctx context.Context, c *app.RequestContext) {
	id, err := pathID(c)
	if err != nil {
		problem.Respond(c, h.log, err)
		return
	}
	var r model.Restock
	if err := decodeJSON(c, &r); err != nil {
		problem.Respond(c, h.log, err)
		return
	}
	if err := r.Validate(); err != nil {
		problem.Respond(c, h.log, err)
		return
	}
	d, err := h.catalog.Restock(ctx, id, r.Delta)
	if err != nil {
		problem.Respond(c, h.log, err)
		return
	}
	c.JSON(http.StatusOK, d)
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
