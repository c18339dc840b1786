package main

import (
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/learecordshop/recordshop/biz/api"
	"github.com/learecordshop/recordshop/biz/edge"
	mw "github.com/learecordshop/recordshop/biz/middleware"
	"github.com/learecordshop/recordshop/biz/service"
	rsredis "github.com/learecordshop/recordshop/dal/redis"
)

// config is every setting of every subcommand. Defaults live here; env (RS_*) overrides them and flags
// override env. Each subcommand validates the part it uses.
type config struct {
	PGURL            string
	RedisURL         string   // one Redis server
	RedisCluster     []string // or the seed nodes of a Redis Cluster
	RedisSentinels   []string // or the Sentinels of a primary, with RedisMaster
	RedisMaster      string
	WaitReplicas     int           // replicas every reservation waits for; -1 = the topology's default
	WaitTimeout      time.Duration // how long it waits (rsredis.DefaultWaitTimeout when 0)
	MetricsAddr      string        // writer only: where /metrics and /healthz listen
	HTTPAddr         string
	AdminTokens      []string
	StorefrontTokens []string
	Partitions       int
	LogLevel         string
	ReserveMode      string
	MaxBacklog       int
	WriterBatch      int
	WriterWait       time.Duration
	ClaimIdle        time.Duration
	RedisTimeout     time.Duration // the order path's bound on each Redis call
	SoldOutHold      time.Duration // how long a sold-out answer is repeated without Redis (0 = off)
	CursorKey        string        // signs list cursors; derived from the admin tokens when empty
	HTTPReadTimeout  time.Duration // serve and dev: a request's line, headers and body (edge.Defaults when 0)
	HTTPMaxConns     int           // serve and dev: connections served at once (edge.Defaults when 0)
	NoMigrate        bool          // serve and writer
	NoWriter         bool          // serve and dev
	DevCluster       bool          // dev only: a local Redis Cluster instead of one server
	PprofAddr        string        // serve and dev: where net/http/pprof listens ("" = off)
	GCHeapFloorMB    int           // serve and dev: the heap may grow this far before a collection (0 = Go's default)
	ReconcileEvery   time.Duration // serve and dev: the shop's own whole-shop reconcile check (0 = off)
	SeedDiscs        int           // seed only
	SeedCustomers    int           // seed only: generated customers 1..N
	Disc             int64         // reconcile only: one disc
	JSON             bool          // reconcile only
	Fix              bool          // reconcile only
	Rebuild          bool          // reconcile only
	Full             bool          // reconcile only: recount the rows, check the running totals
	StuckAfter       time.Duration // reconcile only
}

// defaultConfig is api.Defaults, which holds every default of the shop, plus what only the command line has.
func defaultConfig() config {
	d := api.Defaults
	return config{HTTPAddr: ":8080", Partitions: d.Partitions, LogLevel: "info", ReserveMode: d.Mode,
		MaxBacklog: 20_000, WriterBatch: d.Writer.BatchSize, WriterWait: d.Writer.BatchWait, ClaimIdle: d.Writer.ClaimIdle,
		RedisTimeout: d.Orders.RedisTimeout, SoldOutHold: d.Orders.SoldOutHold, WaitReplicas: -1, MetricsAddr: ":9091",
		GCHeapFloorMB: 64}
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
	str(&c.RedisMaster, "RS_REDIS_SENTINEL_MASTER")
	str(&c.MetricsAddr, "RS_METRICS_ADDR")
	if v := getenv("RS_REDIS_CLUSTER_ADDRS"); v != "" {
		c.RedisCluster = splitList(v)
	}
	if v := getenv("RS_REDIS_SENTINEL_ADDRS"); v != "" {
		c.RedisSentinels = splitList(v)
	}
	str(&c.HTTPAddr, "RS_HTTP_ADDR")
	str(&c.LogLevel, "RS_LOG_LEVEL")
	str(&c.ReserveMode, "RS_RESERVE_MODE")
	str(&c.CursorKey, "RS_CURSOR_KEY")
	if v := getenv("RS_ADMIN_TOKENS"); v != "" {
		c.AdminTokens = splitList(v)
	}
	if v := getenv("RS_STOREFRONT_TOKENS"); v != "" {
		c.StorefrontTokens = splitList(v)
	}
	num := func(dst *int, key string) {
		if v := getenv(key); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q is not a whole number", key, v))
			}
			*dst = n
		}
	}
	dur := func(dst *time.Duration, key string) {
		if v := getenv(key); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q is not a duration like 50ms or 30s", key, v))
			}
			*dst = d
		}
	}
	num(&c.Partitions, "RS_PARTITIONS")
	num(&c.MaxBacklog, "RS_MAX_BACKLOG")
	num(&c.WriterBatch, "RS_WRITER_BATCH")
	dur(&c.WriterWait, "RS_WRITER_WAIT")
	dur(&c.ClaimIdle, "RS_WRITER_CLAIM_IDLE")
	dur(&c.RedisTimeout, "RS_REDIS_ORDER_TIMEOUT")
	dur(&c.SoldOutHold, "RS_SOLD_OUT_HOLD")
	dur(&c.HTTPReadTimeout, "RS_HTTP_READ_TIMEOUT")
	num(&c.HTTPMaxConns, "RS_HTTP_MAX_CONNS")
	num(&c.GCHeapFloorMB, "RS_GC_HEAP_FLOOR_MB")
	num(&c.WaitReplicas, "RS_REDIS_WAIT_REPLICAS")
	dur(&c.WaitTimeout, "RS_REDIS_WAIT_TIMEOUT")
	if name == "dev" {
		c.ReconcileEvery = devReconcileEvery
	}
	dur(&c.ReconcileEvery, "RS_RECONCILE_EVERY")

	// Each subcommand declares, and -h shows, only the flags it reads; the RS_* variables are read for all.
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	uses := func(cmds ...string) bool { return slices.Contains(cmds, name) }
	fs.StringVar(&c.PGURL, "pg-url", c.PGURL, "Postgres URL (RS_PG_URL)")
	// migrate and seed print what they did and log nothing.
	if uses("serve", "dev", "writer", "reconcile") {
		fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error (RS_LOG_LEVEL)")
		fs.StringVar(&c.RedisURL, "redis-url", c.RedisURL, "one Redis server, redis://[:password@]host:port/db (RS_REDIS_URL)")
		fs.Func("redis-cluster-addrs", "Redis Cluster seed nodes, host:port,... (RS_REDIS_CLUSTER_ADDRS)", func(s string) error {
			c.RedisCluster = splitList(s)
			return nil
		})
		fs.Func("redis-sentinel-addrs", "Sentinels of the Redis primary, host:port,... (RS_REDIS_SENTINEL_ADDRS)", func(s string) error {
			c.RedisSentinels = splitList(s)
			return nil
		})
		fs.StringVar(&c.RedisMaster, "redis-sentinel-master", c.RedisMaster, "the primary's name at the Sentinels (RS_REDIS_SENTINEL_MASTER)")
		fs.IntVar(&c.Partitions, "partitions", c.Partitions, "Redis partitions, fixed per deployment (RS_PARTITIONS)")
	}
	// The writer's acknowledgements are plain writes: only what changes stock (reservations, stock events,
	// reconcile's repairs) waits for replicas.
	if uses("serve", "dev", "reconcile") {
		fs.IntVar(&c.WaitReplicas, "redis-wait-replicas", c.WaitReplicas, "replicas that must have each reservation before its 201; -1 = 0 on one server, 1 on a cluster or Sentinel (RS_REDIS_WAIT_REPLICAS)")
		fs.DurationVar(&c.WaitTimeout, "redis-wait-timeout", c.WaitTimeout, fmt.Sprintf("how long a reservation waits for its replicas; 0 = %v (RS_REDIS_WAIT_TIMEOUT)", rsredis.DefaultWaitTimeout))
		fs.StringVar(&c.ReserveMode, "reserve-mode", c.ReserveMode, "redis or postgres (RS_RESERVE_MODE)")
	}
	if uses("serve", "dev", "writer") {
		fs.IntVar(&c.WriterBatch, "writer-batch", c.WriterBatch, "about the most orders per writer transaction; stream entries are read whole (RS_WRITER_BATCH)")
		fs.DurationVar(&c.WriterWait, "writer-wait", c.WriterWait, "how long a writer batch gathers orders after its first (RS_WRITER_WAIT)")
		fs.DurationVar(&c.ClaimIdle, "writer-claim-idle", c.ClaimIdle, "take over entries another writer left this long (RS_WRITER_CLAIM_IDLE)")
	}
	switch name {
	case "serve", "dev":
		fs.StringVar(&c.HTTPAddr, "http-addr", c.HTTPAddr, "HTTP listen address (RS_HTTP_ADDR)")
		fs.Func("admin-tokens", "comma-separated admin bearer tokens (RS_ADMIN_TOKENS)", func(s string) error {
			c.AdminTokens = splitList(s)
			return nil
		})
		fs.Func("storefront-tokens", "comma-separated storefront bearer tokens (RS_STOREFRONT_TOKENS)", func(s string) error {
			c.StorefrontTokens = splitList(s)
			return nil
		})
		fs.IntVar(&c.MaxBacklog, "max-backlog", c.MaxBacklog, "confirmed orders per partition waiting for Postgres before orders get 503; 0 = no bound (RS_MAX_BACKLOG)")
		fs.DurationVar(&c.RedisTimeout, "redis-order-timeout", c.RedisTimeout, "an order whose Redis call takes longer answers 503 + Retry-After (RS_REDIS_ORDER_TIMEOUT)")
		fs.DurationVar(&c.SoldOutHold, "sold-out-hold", c.SoldOutHold, "after Redis answers a disc sold out, answer its orders sold out without Redis this long; a restock through another replica is seen at most this late; 0 = off (RS_SOLD_OUT_HOLD)")
		if name == "serve" {
			fs.BoolVar(&c.NoMigrate, "no-migrate", false, "do not apply migrations at start")
		}
		if name == "dev" {
			fs.BoolVar(&c.DevCluster, "redis-cluster", false, "run the local Redis as a cluster of 3 primaries and 3 replicas")
		}
		fs.BoolVar(&c.NoWriter, "no-writer", false, "do not run the writer in this process (run recordshop writer instead)")
		fs.DurationVar(&c.HTTPReadTimeout, "http-read-timeout", c.HTTPReadTimeout, fmt.Sprintf("a request's line, headers and body must arrive within this; 0 = %v (RS_HTTP_READ_TIMEOUT)", edge.Defaults.ReadTimeout))
		fs.IntVar(&c.HTTPMaxConns, "http-max-conns", c.HTTPMaxConns, fmt.Sprintf("connections served at once, more wait to be accepted; 0 = %d (RS_HTTP_MAX_CONNS)", edge.Defaults.MaxConns))
		fs.IntVar(&c.GCHeapFloorMB, "gc-heap-floor-mb", c.GCHeapFloorMB, "let the heap grow to this many MB before Go collects garbage, while what it keeps is under half of it; 0 = Go's default, as is setting GOGC (RS_GC_HEAP_FLOOR_MB)")
		fs.StringVar(&c.PprofAddr, "pprof-addr", getenv("RS_PPROF_ADDR"), "serve Go's pprof profiles on this address, e.g. 127.0.0.1:6060 (RS_PPROF_ADDR; off by default)")
		fs.DurationVar(&c.ReconcileEvery, "reconcile-every", c.ReconcileEvery, "run the whole-shop reconcile check (never --fix) this often, for the console and the recordshop_reconcile_* metrics; 0 = off (RS_RECONCILE_EVERY)")
	case "writer":
		fs.BoolVar(&c.NoMigrate, "no-migrate", false, "do not apply migrations at start")
		fs.StringVar(&c.MetricsAddr, "metrics-addr", c.MetricsAddr, "where the writer serves /metrics and /healthz; \"\" = nowhere (RS_METRICS_ADDR)")
	case "seed":
		fs.IntVar(&c.SeedDiscs, "discs", 0, "also generate this many discs (for benchmarks)")
		fs.IntVar(&c.SeedCustomers, "customers", 0, fmt.Sprintf("also make sure generated customers 1..N exist, at most %d (bench/attack.sh buys for customers 1..10000); a second run adds only what is missing", maxSeedCustomers))
	case "reconcile":
		fs.Int64Var(&c.Disc, "disc", 0, "check only this disc")
		fs.BoolVar(&c.JSON, "json", false, "print the report as JSON")
		fs.BoolVar(&c.Fix, "fix", false, "repair Redis from Postgres for the drift found, then check again")
		fs.BoolVar(&c.Rebuild, "rebuild", false, "reload a Redis that lost its data entirely from Postgres, then check")
		fs.BoolVar(&c.Full, "full", false, "recount every order and stock event instead of reading the running totals, and check those totals")
		fs.DurationVar(&c.StuckAfter, "stuck-after", service.DefaultStuckAfter, "pending orders and unapplied stock events older than this are stuck")
	}
	return &c, fs, errors.Join(errs...)
}

// devReconcileEvery is `recordshop dev`'s reconcile interval: the console of `make run` shows a verdict
// without anyone running a check. serve leaves it off unless asked, since every replica would check the whole
// shop.
const devReconcileEvery = 30 * time.Second

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// MinTokenLength keeps guessable tokens out of a deployment: the API is public, so a short token can be found by
// trying them all (16 random hex characters are 64 bits).
const MinTokenLength = 16

// placeholderWords are what a token copied from an example or a template says about itself. A token is compared
// in lower case with - _ . and spaces taken out, so CHANGE-ME, change_me and changeme are one word.
var placeholderWords = []string{"changeme", "replaceme", "example", "placeholder", "yourtoken"}

// placeholderWord returns the placeholder word secret contains, or "".
func placeholderWord(secret string) string {
	squeezed := strings.Map(func(r rune) rune {
		switch r {
		case '-', '_', '.', ' ':
			return -1
		}
		return unicode.ToLower(r)
	}, secret)
	for _, w := range placeholderWords {
		if strings.Contains(squeezed, w) {
			return w
		}
	}
	return ""
}

// tokenSet is one role's tokens under the name the environment gives them.
type tokenSet struct {
	name   string
	tokens []string
}

func (c config) tokenSets() []tokenSet {
	return []tokenSet{{"RS_ADMIN_TOKENS", c.AdminTokens}, {"RS_STOREFRONT_TOKENS", c.StorefrontTokens}}
}

// refusePlaceholders is serve's check that no secret is one that anybody who read docker-compose.yml, the
// Kubernetes manifests or the README knows: such a value copied into a deployment would work as a real token.
// dev is not asked, since it makes up its own tokens. The error names the variable and the token's place in
// it, never the token.
func (c config) refusePlaceholders() error {
	var errs []error
	for _, set := range c.tokenSets() {
		for i, t := range set.tokens {
			if w := placeholderWord(t); w != "" {
				errs = append(errs, fmt.Errorf("%s: token %d of %d looks like a placeholder (it contains %q); "+
					"set real tokens, e.g. from `openssl rand -hex 32`", set.name, i+1, len(set.tokens), w))
			}
		}
	}
	if w := placeholderWord(c.CursorKey); w != "" {
		errs = append(errs, fmt.Errorf("RS_CURSOR_KEY looks like a placeholder (it contains %q); set a real key or leave it unset", w))
	}
	return errors.Join(errs...)
}

// sharedTokens counts the tokens given to both roles. The admin role wins a token held by both, so a storefront
// that holds one would have admin rights.
func sharedTokens(admin, storefront []string) int {
	n := 0
	for _, t := range storefront {
		if slices.Contains(admin, t) {
			n++
		}
	}
	return n
}

// validate checks the settings a subcommand uses: needPG, needRedis and needServe (address and tokens).
func (c config) validate(needPG, needRedis, needServe bool) error {
	var errs []error
	if needPG {
		if u, err := url.Parse(c.PGURL); c.PGURL == "" || err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			errs = append(errs, errors.New("RS_PG_URL must be a postgres:// URL"))
		}
	}
	if needRedis {
		t := c.topology()
		if t.Kind() == rsredis.KindServer {
			if u, err := url.Parse(c.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
				errs = append(errs, errors.New("RS_REDIS_URL must be a redis:// URL"))
			}
		} else if err := t.Validate(); err != nil {
			errs = append(errs, err)
		}
		if c.WaitReplicas < -1 || c.WaitReplicas > 16 {
			errs = append(errs, fmt.Errorf("RS_REDIS_WAIT_REPLICAS=%d must be between 0 and 16 (or -1, the topology's default)", c.WaitReplicas))
		}
		if c.WaitTimeout < 0 || (c.WaitTimeout > 0 && c.WaitTimeout >= c.RedisTimeout) {
			errs = append(errs, fmt.Errorf("RS_REDIS_WAIT_TIMEOUT=%v must be below RS_REDIS_ORDER_TIMEOUT=%v", c.WaitTimeout, c.RedisTimeout))
		}
	}
	if needServe {
		if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
			errs = append(errs, fmt.Errorf("RS_HTTP_ADDR=%q must be host:port or :port", c.HTTPAddr))
		}
		for _, set := range c.tokenSets() {
			if len(set.tokens) == 0 {
				errs = append(errs, fmt.Errorf("%s must hold at least one token", set.name))
			}
			for _, t := range set.tokens {
				if len(t) < MinTokenLength {
					errs = append(errs, fmt.Errorf("%s: every token must be at least %d characters (a shorter one can be guessed by trying them all)", set.name, MinTokenLength))
					break
				}
			}
		}
		if n := sharedTokens(c.AdminTokens, c.StorefrontTokens); n > 0 {
			errs = append(errs, fmt.Errorf("RS_ADMIN_TOKENS and RS_STOREFRONT_TOKENS share %d token(s): a storefront holding one would have admin rights; give each role its own", n))
		}
	}
	if c.MaxBacklog < 0 {
		errs = append(errs, fmt.Errorf("RS_MAX_BACKLOG=%d must be 0 (no bound) or more", c.MaxBacklog))
	}
	if c.WriterBatch < 1 || c.WriterBatch > 10_000 {
		errs = append(errs, fmt.Errorf("RS_WRITER_BATCH=%d must be between 1 and 10000", c.WriterBatch))
	}
	if c.WriterWait < time.Millisecond || c.ClaimIdle < time.Second {
		errs = append(errs, errors.New("RS_WRITER_WAIT must be at least 1ms and RS_WRITER_CLAIM_IDLE at least 1s"))
	}
	if c.HTTPReadTimeout < 0 || c.HTTPMaxConns < 0 {
		errs = append(errs, errors.New("RS_HTTP_READ_TIMEOUT and RS_HTTP_MAX_CONNS must not be negative"))
	}
	if c.CursorKey != "" && len(c.CursorKey) < MinTokenLength {
		errs = append(errs, fmt.Errorf("RS_CURSOR_KEY must be at least %d characters", MinTokenLength))
	}
	if c.GCHeapFloorMB < 0 || c.GCHeapFloorMB > 4096 {
		errs = append(errs, fmt.Errorf("RS_GC_HEAP_FLOOR_MB=%d must be between 0 (Go's default) and 4096", c.GCHeapFloorMB))
	}
	if c.SoldOutHold < 0 || c.SoldOutHold > time.Minute {
		errs = append(errs, fmt.Errorf("RS_SOLD_OUT_HOLD=%v must be between 0 (off) and 1m", c.SoldOutHold))
	}
	if c.ReconcileEvery < 0 || (c.ReconcileEvery > 0 && c.ReconcileEvery < time.Second) {
		errs = append(errs, fmt.Errorf("RS_RECONCILE_EVERY=%v must be 0 (off) or at least 1s", c.ReconcileEvery))
	}
	if c.RedisTimeout < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("RS_REDIS_ORDER_TIMEOUT=%v must be at least 10ms", c.RedisTimeout))
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

// soldOutHold is SoldOutHold as api.Deps takes it: there zero means the default, and off is negative.
func (c config) soldOutHold() time.Duration {
	if c.SoldOutHold == 0 {
		return -1
	}
	return c.SoldOutHold
}

// fields logs the config with secrets masked: URL passwords redacted, tokens counted, never shown.
func (c config) fields() []zap.Field {
	return []zap.Field{
		zap.String("pg_url", redact(c.PGURL)),
		zap.String("redis", c.topology().String()),
		zap.Int("redis_wait_replicas", c.replication().Replicas),
		zap.String("http_addr", c.HTTPAddr),
		zap.Int("admin_tokens", len(c.AdminTokens)),
		zap.Int("storefront_tokens", len(c.StorefrontTokens)),
		zap.Int("partitions", c.Partitions),
		zap.String("log_level", c.LogLevel),
		zap.String("reserve_mode", c.ReserveMode),
		zap.Int("max_backlog", c.MaxBacklog),
		zap.Int("writer_batch", c.WriterBatch),
		zap.Duration("writer_wait", c.WriterWait),
		zap.Duration("writer_claim_idle", c.ClaimIdle),
		zap.Duration("redis_order_timeout", c.RedisTimeout),
		zap.Duration("sold_out_hold", c.SoldOutHold),
		zap.Bool("cursor_key_set", c.CursorKey != ""),
		zap.Duration("http_read_timeout", c.HTTPReadTimeout),
		zap.Int("http_max_conns", c.HTTPMaxConns),
		zap.Int("gc_heap_floor_mb", c.GCHeapFloorMB),
		zap.Duration("reconcile_every", c.ReconcileEvery),
	}
}

// deps turns the config into the API's dependencies.
func (c config) deps(pool *pgxpool.Pool, rdb goredis.UniversalClient, log *zap.Logger, reg *prometheus.Registry) api.Deps {
	return api.Deps{
		PG: pool, Redis: rdb, Log: log, Registry: reg, Now: time.Now,
		Tokens:     mw.NewTokens(c.AdminTokens, c.StorefrontTokens),
		Mode:       c.ReserveMode,
		Partitions: c.Partitions,
		Orders:     service.OrderConfig{MaxBacklog: c.MaxBacklog, RedisTimeout: c.RedisTimeout, SoldOutHold: c.soldOutHold()},
		RedisWait:  c.replication(),
		CursorKey:  c.cursorKey(),
		HTTP:       edge.Limits{ReadTimeout: c.HTTPReadTimeout, MaxConns: c.HTTPMaxConns},
		Writer:     service.WriterConfig{BatchSize: c.WriterBatch, BatchWait: c.WriterWait, ClaimIdle: c.ClaimIdle},

		ReconcileEvery: c.ReconcileEvery, // the API's own periodic check (serve, dev)
	}
}

// topology is how the shop reaches Redis.
func (c config) topology() rsredis.Topology {
	return rsredis.Topology{URL: c.RedisURL, Cluster: c.RedisCluster, Sentinels: c.RedisSentinels, Master: c.RedisMaster}
}

// replication is the reservation's replication wait: RS_REDIS_WAIT_REPLICAS, or by default 1 where Redis has
// replicas to wait for (a cluster, a Sentinel-managed primary) and 0 on one server.
func (c config) replication() rsredis.Replication {
	n := c.WaitReplicas
	if n < 0 {
		n = 0
		if k := c.topology().Kind(); k == rsredis.KindCluster || k == rsredis.KindSentinel {
			n = 1
		}
	}
	return rsredis.Replication{Replicas: n, Timeout: c.WaitTimeout}
}

// cursorKey is RS_CURSOR_KEY, or else a key derived from the admin tokens: every replica holds those, so
// their cursors agree without another secret to distribute (rotating the admin tokens then voids the cursors
// in flight, which only makes a client start its list again).
func (c config) cursorKey() []byte {
	if c.CursorKey != "" {
		return []byte(c.CursorKey)
	}
	tokens := slices.Sorted(slices.Values(c.AdminTokens))
	sum := sha256.Sum256([]byte("recordshop list cursors\x00" + strings.Join(tokens, "\x00")))
	return sum[:]
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable)"
	}
	return u.Redacted()
}
