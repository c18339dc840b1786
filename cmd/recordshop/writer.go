package main

import (
	"context"
	"errors"
	"io"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/learecordshop/recordshop/biz/api"
)

// runWriter runs the writer alone: confirmed orders from the Redis streams into Postgres, until ctx ends.
// Any number may run beside `serve --no-writer` (or beside serve's own writer): the consumer group shares the
// entries out, and a writer that dies has its entries taken over after RS_WRITER_CLAIM_IDLE.
func runWriter(ctx context.Context, cfg config, _, stderr io.Writer) error {
	s, err := open(ctx, cfg, needs{redis: true}, stderr)
	if err != nil {
		return err
	}
	defer s.close()
	log := s.log
	log.Info("starting recordshop writer", cfg.fields()...)
	w, err := api.NewWriter(ctx, cfg.deps(s.pool, s.rdb, log, prometheus.NewRegistry()))
	if err != nil {
		return err
	}
	log.Info("writer running")
	if err := w.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("writer stopped", zap.String("reason", "signal"))
	return nil
}
