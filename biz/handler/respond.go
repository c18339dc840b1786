package handler

import (
	"net/http"
	"net/url"

	"github.com/cloudwego/hertz/pkg/app"

	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/biz/problem"
)

// answer writes v as JSON with status, or the problem for err.
func (h *Handler) answer(c *app.RequestContext, status int, v any, err error) {
	if err != nil {
		problem.Respond(c, h.log, err)
		return
	}
	c.JSON(status, v)
}

// bind decodes the body strictly into dst, then validates it.
func bind(c *app.RequestContext, dst any, validate func() error) error {
	if err := decodeJSON(c, dst); err != nil {
		return err
	}
	return validate()
}

// byID answers 200 with what get returns for the path's numeric id.
func byID[T any](h *Handler, c *app.RequestContext, get func(id int64) (T, error)) {
	id, err := pathID(c)
	var v T
	if err == nil {
		v, err = get(id)
	}
	h.answer(c, http.StatusOK, v, err)
}

// bodyByID answers 200 with what change returns for the path's numeric id and a bound, valid body.
func bodyByID[T any](h *Handler, c *app.RequestContext, dst any, validate func() error, change func(id int64) (T, error)) {
	id, err := pathID(c)
	if err == nil {
		err = bind(c, dst, validate)
	}
	var v T
	if err == nil {
		v, err = change(id)
	}
	h.answer(c, http.StatusOK, v, err)
}

// created answers 201 with v and its Location, or the problem for err.
func (h *Handler) created(c *app.RequestContext, location string, v any, err error) {
	if err == nil {
		c.Header("Location", location)
	}
	h.answer(c, http.StatusCreated, v, err)
}

// listPage answers one page of a list endpoint: the query parsed (its cursor checked against the signing key),
// the page fetched, and where it ended signed into next_cursor.
func listPage[Q, T any](h *Handler, c *app.RequestContext, parse func(url.Values, model.CursorCodec) (Q, error),
	fetch func(Q) (model.List[T], error)) {
	q, err := parse(queryValues(c), h.cursors)
	var list model.List[T]
	if err == nil {
		list, err = fetch(q)
	}
	if list.Next != nil {
		list.NextCursor = h.cursors.Encode(*list.Next)
	}
	h.answer(c, http.StatusOK, list, err)
}
