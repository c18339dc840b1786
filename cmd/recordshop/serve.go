package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/cloudwego/hertz/pkg/app/server"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/learecordshop/recordshop/biz/api"
	"github.com/learecordshop/recordshop/dal/pg"
	rsredis "github.com/learecordshop/recordshop/dal/redis"
)

// shutdownGrace bounds how long in-flight requests may take once a stop was asked for.
const shutdownGrace = 10 * time.Second

// runServe is the production entry: it connects to existing Postgres and Redis and serves until ctx ends.
func runServe(ctx context.Context, cfg config, _, stderr io.Writer) error {
	s, err := open(ctx, cfg, needs{redis: true, serve: true, migrate: !cfg.NoMigrate}, stderr)
	if err != nil {
		return err
	}
	defer s.close()
	s.log.Info("starting recordshop serve", cfg.fields()...)
	return s.serve(ctx, nil)
}

// servePprof serves Go's profiles (CPU, heap, goroutines) on their own listener, apart from the API, so they
// are never exposed by accident on the public port.
func servePprof(addr string, log *zap.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("serve: pprof listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("serving pprof", zap.String("addr", ln.Addr().String()))
	return func() { _ = srv.Close() }, nil
}

// connect opens Postgres (migrating it when asked) and, when asked, Redis.
func connect(ctx context.Context, cfg config, migrate, withRedis bool, log *zap.Logger) (*pgxpool.Pool, goredis.UniversalClient, error) {
	pool, err := pg.Connect(ctx, cfg.PGURL)
	if err != nil {
		return nil, nil, err
	}
	if migrate {
		applied, err := pg.Migrate(ctx, pool)
		if err != nil {
			pool.Close()
			return nil, nil, err
		}
		log.Info("migrations applied", zap.Strings("new", applied))
	}
	if !withRedis {
		return pool, nil, nil
	}
	rdb, err := rsredis.Connect(ctx, cfg.topology())
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	return pool, rdb, nil
}

// serve runs the API on cfg.HTTPAddr (and pprof beside it when asked) until ctx ends, then stops gracefully
// (api.Run). It listens before it starts serving, so a taken port is an error here; onListen (may be nil) is
// told the bound address.
func (s *session) serve(ctx context.Context, onListen func(net.Addr)) error {
	cfg, pool, rdb, log := s.cfg, s.pool, s.rdb, s.log
	if stop, ok := keepGCFloor(uint64(cfg.GCHeapFloorMB) << 20); ok {
		defer stop()
	}
	if cfg.PprofAddr != "" {
		stop, err := servePprof(cfg.PprofAddr, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("serve: listen on %s: %w", cfg.HTTPAddr, err)
	}
	shop, err := api.Build(cfg.deps(pool, rdb, log, reg), server.WithListener(ln), server.WithExitWaitTime(shutdownGrace))
	if err == nil {
		err = shop.Prepare(ctx)
	}
	if err != nil {
		_ = ln.Close()
		return err
	}
	log.Info("serving HTTP", zap.String("addr", ln.Addr().String()), zap.String("reserve_mode", cfg.ReserveMode),
		zap.Bool("writer", !cfg.NoWriter))
	if onListen != nil {
		onListen(ln.Addr())
	}
	err = shop.Run(ctx, !cfg.NoWriter, shutdownGrace)
	log.Info("stopped")
	return err
}
