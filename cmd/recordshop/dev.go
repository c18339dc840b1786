//go:build !nodev

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"strings"
	"text/template"
	"time"

	"go.uber.org/zap"

	"github.com/learecordshop/recordshop/dal/devstack"
)

// runDev runs the whole shop on this machine: a throwaway Postgres and Redis (unless RS_PG_URL and a Redis
// topology name existing ones; --redis-cluster makes the Redis a local cluster of 3 primaries and 3 replicas),
// migrated and seeded, with tokens made up unless given. Ctrl-C stops and removes it all.
func runDev(ctx context.Context, cfg config, stdout, stderr io.Writer) error {
	log, err := newLogger(cfg.LogLevel, true, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	logf := func(format string, args ...any) { log.Info(fmt.Sprintf(format, args...)) }
	haveRedis := cfg.topology().Kind() != ""
	if cfg.DevCluster && !haveRedis {
		cluster, err := devstack.StartCluster(ctx, devstack.ClusterOptions{AOF: true, Logf: logf})
		if err != nil {
			return err
		}
		defer func() {
			if err := cluster.Stop(); err != nil {
				log.Warn("stopping the local cluster", zap.Error(err))
			}
		}()
		cfg.RedisCluster, haveRedis = cluster.Addrs, true
	}
	if cfg.PGURL == "" || !haveRedis {
		stack, err := devstack.Start(ctx, devstack.Options{
			RedisAOF: true,
			Logf:     logf,
		})
		if err != nil {
			return err
		}
		defer func() {
			if err := stack.Stop(); err != nil {
				log.Warn("stopping the local servers", zap.Error(err))
			}
		}()
		if cfg.PGURL == "" {
			cfg.PGURL = stack.PGURL
		}
		if !haveRedis {
			cfg.RedisURL = stack.RedisURL
		}
	}
	if len(cfg.AdminTokens) == 0 {
		cfg.AdminTokens = []string{newToken("adm")}
	}
	if len(cfg.StorefrontTokens) == 0 {
		cfg.StorefrontTokens = []string{newToken("sf")}
	}
	log.Info("starting recordshop dev", cfg.fields()...)
	s, err := open(ctx, cfg, needs{redis: true, serve: true, migrate: true, log: log}, stderr)
	if err != nil {
		return err
	}
	defer s.close()
	if err := seed(ctx, s.pool, 0, time.Now(), stdout); err != nil {
		return err
	}
	return s.serve(ctx, func(addr net.Addr) { printBanner(stdout, s.cfg, addr) })
}

func newToken(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + hex.EncodeToString(b[:])
}

// The banner's export line sets the variables the README's examples use (B, ADMIN, SF): pasted into a shell,
// every example there runs as written.
var banner = template.Must(template.New("banner").Funcs(template.FuncMap{"sh": shellWord}).Parse(`
recordshop dev is up. Ctrl-C stops it and removes its data.

  Console    {{.Base}}/console
  Docs       {{.Base}}/docs
  OpenAPI    {{.Base}}/openapi.json
  Postgres   {{.PG}}
  Redis      {{.Redis}}
  Admin      {{.AdminAll}}
  Storefront {{.StorefrontAll}}

For the README's examples, paste into your shell:
  export B={{sh .Base}} ADMIN={{sh .Admin}} SF={{sh .Storefront}}

Try:
  curl -s '{{.Base}}/v1/discs?artist=hohpe&year=2022'
  curl -s -X POST {{.Base}}/v1/customers -H 'Authorization: Bearer {{.Storefront}}' -H 'Content-Type: application/json' \
    -d '{"document":"529.982.247-25","name":"Lea Leitora","email":"lea@example.com","phone":"+5511912345678","birth_date":"1990-05-17"}'
  curl -s -X POST {{.Base}}/v1/discs/1/restock -H 'Authorization: Bearer {{.Admin}}' -H 'Content-Type: application/json' -d '{"delta":100}'
  curl -s -X DELETE {{.Base}}/v1/customers/1 -H 'Authorization: Bearer {{.Admin}}'

`))

// shellWord quotes s for a POSIX shell when it holds anything but letters, digits and URL punctuation (a
// token given with --admin-tokens may).
func shellWord(s string) string {
	plain := s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-./:@%+=,", r))
	}) < 0
	if plain {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func printBanner(w io.Writer, cfg config, addr net.Addr) {
	host := "localhost"
	if h, _, err := net.SplitHostPort(cfg.HTTPAddr); err == nil && h != "" && h != "0.0.0.0" && h != "::" {
		host = h
	}
	_, port, _ := net.SplitHostPort(addr.String())
	_ = banner.Execute(w, map[string]string{
		"Base":          "http://" + net.JoinHostPort(host, port),
		"PG":            redact(cfg.PGURL),
		"Redis":         cfg.topology().String(),
		"Admin":         cfg.AdminTokens[0],
		"Storefront":    cfg.StorefrontTokens[0],
		"AdminAll":      strings.Join(cfg.AdminTokens, ", "),
		"StorefrontAll": strings.Join(cfg.StorefrontTokens, ", "),
	})
}
