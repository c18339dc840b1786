package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/cloudwego/hertz/pkg/app/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/learecordshop/recordshop/biz/api"
)

// runWriter runs the writer alone: confirmed orders from the Redis streams into Postgres, until ctx ends.
// Any number may run beside `serve --no-writer` (or beside serve's own writer): the consumer group shares the
// entries out, and a writer that dies has its entries taken over after RS_WRITER_CLAIM_IDLE. It serves its
// metrics (batches, lag, dead letters) and /healthz on RS_METRICS_ADDR.
func runWriter(ctx context.Context, cfg config, _, stderr io.Writer) error {
	// Like serve, the writer brings the schema up to date (under Migrate's advisory lock), so that API and
	// writer processes started at once on a fresh database all find it.
	s, err := open(ctx, cfg, needs{redis: true, migrate: !cfg.NoMigrate}, stderr)
	if err != nil {
		return err
	}
	defer s.close()
	log := s.log
	log.Info("starting recordshop writer", cfg.fields()...)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	deps := cfg.deps(s.pool, s.rdb, log, reg)
	w, err := api.NewWriter(ctx, deps)
	if err != nil {
		return err
	}
	// The metrics server stops with the writer, whether ctx ended or the writer failed.
	opsCtx, stopOps := context.WithCancel(ctx)
	defer stopOps()
	opsStopped := func() error { return nil }
	if cfg.MetricsAddr != "" {
		ln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("writer: metrics listen on %s: %w", cfg.MetricsAddr, err)
		}
		ops, err := api.BuildOps(deps, server.WithListener(ln), server.WithExitWaitTime(shutdownGrace))
		if err != nil {
			_ = ln.Close()
			return err
		}
		done := make(chan error, 1)
		go func() { done <- ops.Serve(opsCtx, shutdownGrace) }()
		opsStopped = func() error { return <-done }
		log.Info("serving writer metrics", zap.String("addr", ln.Addr().String()))
	}
	log.Info("writer running")
	err = w.Run(ctx)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	stopOps()
	err = errors.Join(err, opsStopped())
	log.Info("writer stopped", zap.String("reason", "signal"))
	return err
}
