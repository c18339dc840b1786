// Package api assembles the HTTP API from its parts: repositories over the given Postgres pool and Redis
// client, the services, the handlers and the routes, on a Hertz server. `serve`, `dev` and the integration
// tests all build the API here, so they run the same thing.
package api

import (
	"context"
	"time"

	"github.com/cloudwego/hertz/pkg/app/server"
	"github.com/cloudwego/hertz/pkg/common/config"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/learecordshop/recordshop/biz/handler"
	mw "github.com/learecordshop/recordshop/biz/middleware"
	"github.com/learecordshop/recordshop/biz/router"
	"github.com/learecordshop/recordshop/biz/service"
	"github.com/learecordshop/recordshop/dal/pg"
)

// Deps are the built dependencies of the API; all are required.
type Deps struct {
	PG       *pgxpool.Pool
	Redis    *goredis.Client
	Tokens   mw.Tokens
	Log      *zap.Logger
	Registry *prometheus.Registry
	Now      func() time.Time
}

// MaxRequestBytes is the transport's bound on a request body. The JSON decoder enforces the tighter
// handler.MaxBodyBytes with a problem answer; this one only stops a client from making the server buffer
// megabytes.
const MaxRequestBytes = 1 << 20

// New builds the Hertz server with every route registered. opts add server options (the listen address).
func New(d Deps, opts ...config.Option) (*server.Hertz, error) {
	h, err := handler.New(handler.Deps{
		Catalog:   service.NewCatalog(pg.NewDiscs(d.PG)),
		Customers: service.NewCustomers(pg.NewCustomers(d.PG)),
		Ready: []handler.Check{
			{Name: "postgres", Ping: d.PG.Ping},
			{Name: "redis", Ping: func(ctx context.Context) error { return d.Redis.Ping(ctx).Err() }},
		},
		Log: d.Log,
		Now: d.Now,
	})
	if err != nil {
		return nil, err
	}
	base := []config.Option{
		server.WithMaxRequestBodySize(MaxRequestBytes),
		server.WithHandleMethodNotAllowed(true),
		server.WithDisablePrintRoute(true),
		server.WithReadTimeout(10 * time.Second),
		server.WithIdleTimeout(60 * time.Second),
	}
	srv := server.New(append(base, opts...)...)
	if err := router.Register(srv.Engine, router.Deps{Handler: h, Tokens: d.Tokens, Log: d.Log, Registry: d.Registry}); err != nil {
		return nil, err
	}
	return srv, nil
}
