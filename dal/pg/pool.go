package pg

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// StatementTimeout is the server-side statement_timeout of every connection, unless the URL sets its own
// (…?statement_timeout=60s). The shop's statements take milliseconds, a batch of 10,000 orders well under a
// second; 10 s is far beyond any of them even in a launch-day lock queue, yet it frees the connection and the
// locks of a runaway statement long before anyone would wait for it. Migrations run under it too: a
// migration that needs longer says so in its file (SET LOCAL statement_timeout), rather than one rewrite of a
// big table silently holding its locks against the shop.
const StatementTimeout = 10 * time.Second

// A connection whose packets silently vanish (a dead NAT or firewall entry, a cut link, a frozen host) gives
// no error by itself: by the kernel's defaults unacknowledged bytes are resent for about 15 minutes, and an
// idle connection looks healthy for hours. These notice it within about 10 s, whether a statement is in
// flight or not; a connection they break fails its call and the pool replaces it.
const (
	// userTimeout drops a connection whose sent bytes stay unacknowledged this long (TCP_USER_TIMEOUT, Linux).
	// A live server acknowledges our bytes at once even while it works on a long statement, so this never
	// cuts a slow statement, only a dead path. With keep-alive on, it also decides when probes have failed.
	userTimeout = 10 * time.Second
	// An idle connection (in the pool, or waiting for an answer) is probed after keepAliveIdle, then every
	// keepAliveInterval; keepAliveCount unanswered probes (or userTimeout) drop it.
	keepAliveIdle     = 5 * time.Second
	keepAliveInterval = 2 * time.Second
	keepAliveCount    = 3
	// connectTimeout bounds dial, TLS and start-up of a new connection unless the URL sets connect_timeout:
	// the pool makes connections in the background, and one dialled into a dead path must not wait forever.
	connectTimeout = 5 * time.Second
)

// PoolConfig parses url into a pool configuration with recordshop's defaults: the statement timeout, the
// connect timeout and a dialer that notices half-open connections (see above).
func PoolConfig(url string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("pg.connect: parse url: %w", err)
	}
	cc := cfg.ConnConfig
	if _, set := cc.RuntimeParams["statement_timeout"]; !set && !strings.Contains(cc.RuntimeParams["options"], "statement_timeout") {
		cc.RuntimeParams["statement_timeout"] = strconv.FormatInt(StatementTimeout.Milliseconds(), 10)
	}
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = connectTimeout // pgconn bounds the whole connect with it, whatever the dialer
	}
	dialer := &net.Dialer{
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: keepAliveIdle, Interval: keepAliveInterval, Count: keepAliveCount},
		Control:         setUserTimeout,
	}
	cc.DialFunc = dialer.DialContext // also dials the cancel requests
	return cfg, nil
}

// Connect opens a pool to url with PoolConfig's settings and checks that the server answers.
func Connect(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := PoolConfig(url)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pg.connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pg.connect: ping: %w", err)
	}
	return pool, nil
}
