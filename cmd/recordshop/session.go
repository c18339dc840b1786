package main

import (
	"context"
	"io"

	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// needs says what a subcommand uses of the stores and of the config.
type needs struct {
	redis   bool // Redis as well as Postgres
	serve   bool // the HTTP settings and tokens are validated
	migrate bool // apply the migrations once connected
	console bool // a logger for people (dev) rather than JSON lines
	// log is a logger the subcommand made already (dev, to report its local servers); nil: open makes one.
	log *zap.Logger
}

// session is what every subcommand that talks to the stores starts from: its config validated, the one
// logger of the process, and the connections, which close releases in reverse order.
type session struct {
	cfg  config
	log  *zap.Logger
	pool *pgxpool.Pool
	rdb  goredis.UniversalClient // nil unless needs.redis
}

// open validates cfg for n, builds the logger and connects. On error nothing is left open.
func open(ctx context.Context, cfg config, n needs, stderr io.Writer) (*session, error) {
	if err := cfg.validate(true, n.redis, n.serve); err != nil {
		return nil, err
	}
	log := n.log
	if log == nil {
		var err error
		if log, err = newLogger(cfg.LogLevel, n.console, stderr); err != nil {
			return nil, err
		}
	}
	s := &session{cfg: cfg, log: log}
	var err error
	if s.pool, s.rdb, err = connect(ctx, cfg, n.migrate, n.redis, log); err != nil {
		_ = log.Sync()
		return nil, err
	}
	return s, nil
}

// close releases the connections and flushes the log.
func (s *session) close() {
	if s.rdb != nil {
		_ = s.rdb.Close()
	}
	s.pool.Close()
	_ = s.log.Sync()
}
