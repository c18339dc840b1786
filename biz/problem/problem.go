// Package problem writes RFC 9457 problem+json answers and maps recordshop's domain errors to them, in one
// place, so every endpoint answers the same kind of failure the same way.
package problem

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/cloudwego/hertz/pkg/app"
	"go.uber.org/zap"

	"github.com/learecordshop/recordshop/biz/model"
)

// TypePrefix starts every problem type URI; the rest is the stable kind (e.g. "validation").
const TypePrefix = "urn:recordshop:problem:"

// ContentType is the media type of every error answer.
const ContentType = "application/problem+json"

// Problem is an RFC 9457 problem details object, with field-level errors for validation failures.
type Problem struct {
	Type     string             `json:"type"`
	Title    string             `json:"title"`
	Status   int                `json:"status"`
	Detail   string             `json:"detail,omitempty"`
	Instance string             `json:"instance,omitempty"`
	Errors   []model.FieldError `json:"errors,omitempty"`
}

// New makes a problem of kind with its status and title.
func New(status int, kind, title, detail string) *Problem {
	return &Problem{Type: TypePrefix + kind, Title: title, Status: status, Detail: detail}
}

func (p *Problem) Error() string { return p.Title + ": " + p.Detail }

// Write answers p, with the request path as its instance.
func Write(c *app.RequestContext, p *Problem) {
	if p.Instance == "" {
		p.Instance = string(c.Request.URI().Path())
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // "<token>" reads better than "\u003ctoken\u003e"
	_ = enc.Encode(p)        // strings, ints and field errors always encode
	c.Data(p.Status, ContentType, buf.Bytes())
}

// From maps an error from bind, validation, a service or dal to the problem a client should see. Anything it
// does not know is a 500 whose cause stays in the log, never in the answer.
func From(err error) *Problem {
	var (
		p        *Problem
		invalid  *model.ValidationError
		conflict *model.ConflictError
		short    *model.InsufficientStockError
	)
	switch {
	case errors.As(err, &p):
		return p
	case errors.As(err, &invalid):
		if invalid.In == "body" {
			q := New(http.StatusUnprocessableEntity, "validation", "The request body is not valid", "See errors for each field.")
			q.Errors = invalid.Fields
			return q
		}
		q := New(http.StatusBadRequest, "invalid-"+invalid.In, "The request has invalid "+invalid.In+" parameters", "See errors for each parameter.")
		q.Errors = invalid.Fields
		return q
	case errors.Is(err, model.ErrNotFound):
		return New(http.StatusNotFound, "not-found", "Not found", "No such resource.")
	case errors.As(err, &conflict):
		q := New(http.StatusConflict, "conflict", "Already taken", "Another record already uses this value.")
		if f := conflict.Field(); f != "" {
			q.Errors = []model.FieldError{{Field: f, Detail: "is already registered"}}
		}
		return q
	case errors.As(err, &short):
		return New(http.StatusConflict, "insufficient-stock", "Not enough stock", short.Error())
	case errors.Is(err, model.ErrArchived):
		return New(http.StatusConflict, "disc-archived", "Disc archived", "The disc is archived and can no longer change.")
	case errors.Is(err, model.ErrConstraint):
		return New(http.StatusUnprocessableEntity, "validation", "The request body is not valid", "A value is out of its allowed range.")
	case errors.Is(err, context.Canceled):
		// The client went away; 499 is what proxies log for that, and nobody reads the body.
		return New(499, "client-closed", "Client closed the request", "")
	}
	return New(http.StatusInternalServerError, "internal", "Internal error", "Something went wrong on our side; it has been logged.")
}

// Respond writes the problem for err, logging the cause of a 5xx with the route (never the body: no PII).
func Respond(c *app.RequestContext, log *zap.Logger, err error) {
	p := From(err)
	if p.Status >= 500 {
		log.Error("request failed", zap.String("route", c.FullPath()), zap.Error(err))
	}
	Write(c, p)
}
