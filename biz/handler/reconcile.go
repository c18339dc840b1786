package handler

import (
	"context"
	"net/http"
	"strconv"

	"github.com/cloudwego/hertz/pkg/app"

	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/biz/problem"
	"github.com/learecordshop/recordshop/biz/service"
)

// Reconciles is what the reconcile endpoints need: *service.Reconciler in a shop that reserves in Redis, or
// NotReconcilable in one that reserves in Postgres only.
type Reconciles interface {
	Check(ctx context.Context, discID int64) (service.Report, error)
	Fix(ctx context.Context, rep service.Report) (service.Report, error)
}

// NotReconcilable is the Reconciles of a shop that reserves in Postgres only (RS_RESERVE_MODE=postgres):
// there is no second store to compare, so the endpoints answer 409 not-applicable. (`recordshop reconcile`
// still checks the ledger there, with service.NewLedgerReconciler.)
type NotReconcilable struct{}

// Check answers not-applicable.
func (NotReconcilable) Check(context.Context, int64) (service.Report, error) {
	return service.Report{}, notApplicable()
}

// Fix answers not-applicable.
func (NotReconcilable) Fix(context.Context, service.Report) (service.Report, error) {
	return service.Report{}, notApplicable()
}

// notApplicable is a new problem each time: problem.Write fills in the instance.
func notApplicable() *problem.Problem {
	return problem.New(http.StatusConflict, "not-applicable", "Nothing to reconcile",
		"This deployment reserves in Postgres only (RS_RESERVE_MODE=postgres).")
}

// Reconcile handles GET /v1/admin/reconcile (the report; ?disc= checks one disc) and
// POST /v1/admin/reconcile?fix=true (repair Redis from Postgres, then the report of a fresh check).
// The report answers 200 whether or not it found drift: "clean" says which.
func (h *Handler) Reconcile(ctx context.Context, c *app.RequestContext) {
	q := queryValues(c)
	var fields []model.FieldError
	for k := range q {
		if k != "disc" && k != "fix" {
			fields = append(fields, model.FieldError{Field: k, Detail: "is not a known parameter (known: disc, fix)"})
		}
	}
	var disc int64
	if s := q.Get("disc"); s != "" {
		n, ok := model.ParseID(s)
		if !ok {
			fields = append(fields, model.FieldError{Field: "disc", Detail: "must be a positive id written in decimal digits"})
		}
		disc = n
	}
	fix := false
	if s := q.Get("fix"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil || (b && string(c.Method()) != http.MethodPost) {
			fields = append(fields, model.FieldError{Field: "fix", Detail: "must be true or false, and true only with POST"})
		}
		fix = b
	}
	if len(fields) > 0 {
		problem.Respond(c, h.log, &model.ValidationError{In: "query", Fields: fields})
		return
	}
	rep, err := h.reconcile.Check(ctx, disc)
	if err == nil && fix && !rep.Clean {
		rep, err = h.reconcile.Fix(ctx, rep)
	}
	if err != nil {
		problem.Respond(c, h.log, err)
		return
	}
	c.JSON(http.StatusOK, rep)
}
