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
	a, err := discAnswer(d, err)
	h.created(c, "/v1/discs/"+strconv.FormatInt(d.ID, 10), a, err)
}

// GetDisc handles GET /v1/discs/{id}.
func (h *Handler) GetDisc(ctx context.Context, c *app.RequestContext) {
	byID(h, c, func(id int64) (*model.DiscAnswer, error) { return discAnswer(h.catalog.Get(ctx, id)) })
}

// ListDiscs handles GET /v1/discs.
func (h *Handler) ListDiscs(ctx context.Context, c *app.RequestContext) {
	listPage(h, c, model.ParseDiscQuery, func(q model.DiscQuery) (model.List[model.DiscAnswer], error) {
		l, err := h.catalog.List(ctx, q)
		return model.AnswerDiscs(l), err
	})
}

// UpdateDisc handles PATCH /v1/discs/{id}.
func (h *Handler) UpdateDisc(ctx context.Context, c *app.RequestContext) {
	var p model.DiscPatch
	bodyByID(h, c, &p, p.Validate, func(id int64) (*model.DiscAnswer, error) { return discAnswer(h.catalog.Update(ctx, id, p)) })
}

// RestockDisc handles POST /v1/discs/{id}/restock.
func (h *Handler) RestockDisc(ctx context.Context, c *app.RequestContext) {
	var r model.Restock
	bodyByID(h, c, &r, r.Validate, func(id int64) (*model.DiscAnswer, error) { return discAnswer(h.catalog.Restock(ctx, id, r.Delta)) })
}

// discAnswer is a service's disc as the API writes every disc: a model.DiscAnswer, whose available count is
// null when the catalog could not read the live count, never the ledger's stock in its place.
func discAnswer(d model.Disc, err error) (*model.DiscAnswer, error) {
	if err != nil {
		return nil, err
	}
	return d.Answer(), nil
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
		c.JSON(http.StatusOK, d.Answer())
	default:
		c.Status(http.StatusNoContent)
	}
}
