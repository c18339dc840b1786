package api

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cloudwego/hertz/pkg/app/server"
	"github.com/cloudwego/hertz/pkg/common/config"

	"github.com/learecordshop/recordshop/biz/edge"
	"github.com/learecordshop/recordshop/biz/router"
)

// Run serves HTTP on the listener the server was built with, and runs the background work (the stock relay
// and, when withWriter, the writer), until ctx ends or the server fails. Then it stops in order: HTTP first,
// giving requests in flight up to grace, then the background work, so the writer lands what it has read.
// Every subcommand that serves and every test harness runs the shop through here.
func (a *API) Run(ctx context.Context, withWriter bool, grace time.Duration) error {
	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	bgDone := make(chan error, 1)
	go func() { bgDone <- a.RunBackground(bgCtx, withWriter) }()
	// The readiness probe runs in either reservation mode, so it is not part of RunBackground.
	probed := make(chan struct{})
	go func() { defer close(probed); a.ready.Run(bgCtx) }()
	// So do the launch console's sampler and the periodic reconcile.
	watched := make(chan struct{})
	go func() { defer close(watched); a.ops.run(bgCtx) }()

	err := serveUntil(ctx, a.Server, grace)
	stopBackground()
	<-probed
	<-watched
	if berr := <-bgDone; berr != nil {
		err = errors.Join(err, fmt.Errorf("api: background work: %w", berr))
	}
	return err
}

// serveUntil serves h on the listener it was built with until ctx ends or the server fails, then stops it
// within grace.
func serveUntil(ctx context.Context, h *server.Hertz, grace time.Duration) error {
	served := make(chan error, 1)
	go func() { served <- h.Run() }()
	select {
	case err := <-served:
		return fmt.Errorf("api: serve: %w", err)
	case <-ctx.Done():
		return shutdown(h, served, grace)
	}
}

// shutdown stops the HTTP server within grace. Hertz marks the engine running from inside Run, a moment after
// it starts; a stop asked for before then waits for that (Shutdown of an engine not yet running does nothing
// and Run would go on serving).
func shutdown(h *server.Hertz, served <-chan error, grace time.Duration) error {
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !h.IsRunning() {
		select {
		case err := <-served:
			return err
		case <-sctx.Done():
			return fmt.Errorf("api: the server did not start within %v", grace)
		case <-tick.C:
		}
	}
	if err := h.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("api: shutdown: %w", err)
	}
	return nil
}

// Ops is the HTTP side of a process that serves no API (recordshop writer): liveness and its metrics, behind
// the same edge and middleware as the API, so its refusals are problem+json too.
type Ops struct {
	Server *server.Hertz
}

// BuildOps builds the Ops server for d's logger and registry; opts name its listener.
func BuildOps(d Deps, opts ...config.Option) (*Ops, error) {
	d = withDefaults(d)
	base := append(edge.Options(d.HTTP), server.WithDisablePrintRoute(true))
	h := server.New(append(base, opts...)...)
	if err := router.RegisterOps(h.Engine, router.Deps{Log: d.Log, Registry: d.Registry}); err != nil {
		return nil, err
	}
	return &Ops{Server: h}, nil
}

// Serve serves until ctx ends, then stops within grace.
func (o *Ops) Serve(ctx context.Context, grace time.Duration) error {
	return serveUntil(ctx, o.Server, grace)
}
