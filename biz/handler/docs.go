package handler

import (
	"context"
	"net/http"

	"github.com/cloudwego/hertz/pkg/app"

	"github.com/learecordshop/recordshop/biz/apidoc"
)

// OpenAPI serves the OpenAPI 3 document of the whole API.
func (h *Handler) OpenAPI(_ context.Context, c *app.RequestContext) {
	c.Data(http.StatusOK, "application/json", apidoc.Spec)
}

// Docs serves the human docs page, rendered from the same document.
func (h *Handler) Docs(_ context.Context, c *app.RequestContext) {
	c.Data(http.StatusOK, "text/html; charset=utf-8", h.docsPage)
}
