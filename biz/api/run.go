package api

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Run serves HTTP on the listener the server was built with, and runs the background work (the stock relay
// and, when withWriter, the writer), until ctx ends or the server fails. Then it stops in order: HTTP first,
// giving requests in flight up to grace, then the background work, so the writer lands what it has read.
// Every subcommand that serves and every test harness runs the shop through here.
func (a *API) Run(ctx context.Context, withWriter bool, grace time.Duration) error {
	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	bgDone := make(chan error, 1)
	go func() { bgDone <- a.RunBackground(bgCtx, withWriter) }()

	served := make(chan error, 1)
	go func() { served <- a.Server.Run() }()
	var err error
	select {
	case err = <-served:
		err = fmt.Errorf("api: serve: %w", err)
	case <-ctx.Done():
		err = a.shutdown(served, grace)
	}
	stopBackground()
	if berr := <-bgDone; berr != nil {
		err = errors.Join(err, fmt.Errorf("api: background work: %w", berr))
	}
	return err
}

// shutdown stops the HTTP server within grace. Hertz marks the engine running from inside Run, a moment after
// it starts; a stop asked for before then waits for that (Shutdown of an engine not yet running does nothing
// and Run would go on serving).
func (a *API) shutdown(served <-chan error, grace time.Duration) error {
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !a.Server.IsRunning() {
		select {
		case err := <-served:
			return err
		case <-sctx.Done():
			return fmt.Errorf("api: the server did not start within %v", grace)
		case <-tick.C:
		}
	}
	if err := a.Server.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("api: shutdown: %w", err)
	}
	return nil
}
