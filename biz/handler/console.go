package handler

import (
	"context"
	"net/http"
	"time"

	"github.com/cloudwego/hertz/pkg/app"

	"github.com/learecordshop/recordshop/biz/console"
	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/biz/problem"
)

// consolePages are the two pages the shop serves itself, rendered once at start.
type consolePages struct {
	console, index console.Page
}

func newConsolePages() (consolePages, error) {
	c, err := console.ConsolePage()
	if err != nil {
		return consolePages{}, err
	}
	i, err := console.IndexPage()
	return consolePages{console: c, index: i}, err
}

// Index handles GET /: a page of links to the console, the docs and the operational endpoints.
func (h *Handler) Index(_ context.Context, c *app.RequestContext) {
	servePage(c, h.pages.index)
}

// Console handles GET /console, the launch console. The page itself is public (it holds no data); it asks
// for an admin token and reads everything from GET /v1/admin/console with it.
func (h *Handler) Console(_ context.Context, c *app.RequestContext) {
	servePage(c, h.pages.console)
}

func servePage(c *app.RequestContext, p console.Page) {
	c.Header("Content-Security-Policy", p.CSP)
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Referrer-Policy", "no-referrer")
	c.Header("Cache-Control", "no-cache")
	c.Data(http.StatusOK, "text/html; charset=utf-8", p.Body)
}

// ConsoleView handles GET /v1/admin/console: the launch console's data, read at most half a second ago.
func (h *Handler) ConsoleView(ctx context.Context, c *app.RequestContext) {
	var fields []model.FieldError
	for k := range queryValues(c) {
		fields = append(fields, model.FieldError{Field: k, Detail: "is not a known parameter (this endpoint takes none)"})
	}
	if len(fields) > 0 {
		problem.Respond(c, h.log, &model.ValidationError{In: "query", Fields: fields})
		return
	}
	v, err := h.console.View(ctx)
	if err != nil {
		problem.Respond(c, h.log, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, v)
}

// observeOrder counts an answer of POST /v1/orders for the console: its status (already written), whether
// it was "sold out" with no unit left, and its time since start. The reservers return *model.SoldOutError as
// is, so a type assertion reads it without the allocation errors.As would make on every refusal.
func (h *Handler) observeOrder(discID int64, start time.Time, c *app.RequestContext, err error) {
	if h.console == nil {
		return // a Handler built only to list the routes
	}
	sold, _ := err.(*model.SoldOutError) //nolint:errorlint // see above
	h.console.Meter().Observe(discID, c.Response.StatusCode(), sold != nil && sold.Left == 0, time.Since(start))
}
