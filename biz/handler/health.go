package handler

import (
	"context"
	"net/http"
	"time"

	"github.com/cloudwego/hertz/pkg/app"
	"go.uber.org/zap"

	"github.com/learecordshop/recordshop/biz/problem"
)

// Healthz answers liveness: the process serves HTTP. It needs nothing of a Handler, so that a process that
// serves no API (recordshop writer) answers it too.
func Healthz(_ context.Context, c *app.RequestContext) {
	c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// Readyz answers readiness: Postgres and Redis both answer within a second.
func (h *Handler) Readyz(ctx context.Context, c *app.RequestContext) {
	status := map[string]string{}
	ok := true
	for _, check := range h.ready {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		err := check.Ping(cctx)
		cancel()
		if err != nil {
			ok = false
			status[check.Name] = "unavailable"
			h.log.Warn("readiness check failed", zap.String("check", check.Name), zap.Error(err))
			continue
		}
		status[check.Name] = "ok"
	}
	if !ok {
		p := problem.New(http.StatusServiceUnavailable, "not-ready", "Not ready", "A dependency does not answer.")
		for name, s := range status {
			if s != "ok" {
				p.Detail += " " + name + " is unavailable."
			}
		}
		problem.Write(c, p)
		return
	}
	c.JSON(http.StatusOK, status)
}
