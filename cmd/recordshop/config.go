package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// config is every setting of every subcommand. Defaults live here; env (RS_*) overrides them and flags
// override env. Each subcommand validates the part it uses.
type config struct {
	PGURL            string
	RedisURL         string
	HTTPAddr         string
	AdminTokens      []string
	StorefrontTokens []string
	Partitions       int
	LogLevel         string
	ReserveMode      string
	NoMigrate        bool // serve only
	NoWriter         bool // serve only
	SeedDiscs        int  // seed only
}

func defaultConfig() config {
	return config{HTTPAddr: ":8080", Partitions: 16, LogLevel: "info", ReserveMode: "redis"}
}

// parseConfig reads env through getenv and declares the flags of command name on the returned FlagSet, whose
// Parse then overrides env.
func parseConfig(name string, getenv func(string) string) (*config, *flag.FlagSet, error) {
	c := defaultConfig()
	var errs []error
	str := func(dst *string, key string) {
		if v := getenv(key); v != "" {
			*dst = v
		}
	}
	str(&c.PGURL, "RS_PG_URL")
	str(&c.RedisURL, "RS_REDIS_URL")
	str(&c.HTTPAddr, "RS_HTTP_ADDR")
	str(&c.LogLevel, "RS_LOG_LEVEL")
	str(&c.ReserveMode, "RS_RESERVE_MODE")
	if v := getenv("RS_ADMIN_TOKENS"); v != "" {
		c.AdminTokens = splitList(v)
	}
	if v := getenv("RS_STOREFRONT_TOKENS"); v != "" {
		c.StorefrontTokens = splitList(v)
	}
	if v := getenv("RS_PARTITIONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("RS_PARTITIONS=%q is not a whole number", v))
		}
		c.Partitions = n
	}

	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&c.PGURL, "pg-url", c.PGURL, "Postgres URL (RS_PG_URL)")
	fs.StringVar(&c.RedisURL, "redis-url", c.RedisURL, "Redis URL (RS_REDIS_URL)")
	fs.StringVar(&c.HTTPAddr, "http-addr", c.HTTPAddr, "HTTP listen address (RS_HTTP_ADDR)")
	fs.Func("admin-tokens", "comma-separated admin bearer tokens (RS_ADMIN_TOKENS)", func(s string) error {
		c.AdminTokens = splitList(s)
		return nil
	})
	fs.Func("storefront-tokens", "comma-separated storefront bearer tokens (RS_STOREFRONT_TOKENS)", func(s string) error {
		c.StorefrontTokens = splitList(s)
		return nil
	})
	fs.IntVar(&c.Partitions, "partitions", c.Partitions, "Redis partitions, fixed per deployment (RS_PARTITIONS)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error (RS_LOG_LEVEL)")
	fs.StringVar(&c.ReserveMode, "reserve-mode", c.ReserveMode, "redis or postgres (RS_RESERVE_MODE)")
	switch name {
	case "serve":
		fs.BoolVar(&c.NoMigrate, "no-migrate", false, "do not apply migrations at start")
		fs.BoolVar(&c.NoWriter, "no-writer", false, "do not run the writer in this process (run recordshop writer instead)")
	case "seed":
		fs.IntVar(&c.SeedDiscs, "discs", 0, "also generate this many discs (for benchmarks)")
	}
	return &c, fs, errors.Join(errs...)
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// MinTokenLength keeps guessable tokens out of a deployment.
const MinTokenLength = 16

// validate checks the settings a subcommand uses: needPG, needRedis and needServe (address and tokens).
func (c config) validate(needPG, needRedis, needServe bool) error {
	var errs []error
	if needPG {
		if u, err := url.Parse(c.PGURL); c.PGURL == "" || err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			errs = append(errs, errors.New("RS_PG_URL must be a postgres:// URL"))
		}
	}
	if needRedis {
		if u, err := url.Parse(c.RedisURL); c.RedisURL == "" || err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			errs = append(errs, errors.New("RS_REDIS_URL must be a redis:// URL"))
		}
	}
	if needServe {
		if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
			errs = append(errs, fmt.Errorf("RS_HTTP_ADDR=%q must be host:port or :port", c.HTTPAddr))
		}
		for _, set := range []struct {
			name   string
			tokens []string
		}{{"RS_ADMIN_TOKENS", c.AdminTokens}, {"RS_STOREFRONT_TOKENS", c.StorefrontTokens}} {
			if len(set.tokens) == 0 {
				errs = append(errs, fmt.Errorf("%s must hold at least one token", set.name))
			}
			for _, t := range set.tokens {
				if len(t) < MinTokenLength {
					errs = append(errs, fmt.Errorf("%s: every token must be at least %d characters", set.name, MinTokenLength))
					break
				}
			}
		}
	}
	if c.Partitions < 1 || c.Partitions > 1024 {
		errs = append(errs, fmt.Errorf("RS_PARTITIONS=%d must be between 1 and 1024", c.Partitions))
	}
	if _, err := zapcore.ParseLevel(c.LogLevel); err != nil {
		errs = append(errs, fmt.Errorf("RS_LOG_LEVEL=%q must be debug, info, warn or error", c.LogLevel))
	}
	if c.ReserveMode != "redis" && c.ReserveMode != "postgres" {
		errs = append(errs, fmt.Errorf("RS_RESERVE_MODE=%q must be redis or postgres", c.ReserveMode))
	}
	return errors.Join(errs...)
}

// fields logs the config with secrets masked: URL passwords redacted, tokens counted, never shown.
func (c config) fields() []zap.Field {
	return []zap.Field{
		zap.String("pg_url", redact(c.PGURL)),
		zap.String("redis_url", redact(c.RedisURL)),
		zap.String("http_addr", c.HTTPAddr),
		zap.Int("admin_tokens", len(c.AdminTokens)),
		zap.Int("storefront_tokens", len(c.StorefrontTokens)),
		zap.Int("partitions", c.Partitions),
		zap.String("log_level", c.LogLevel),
		zap.String("reserve_mode", c.ReserveMode),
	}
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable)"
	}
	return u.Redacted()
}
