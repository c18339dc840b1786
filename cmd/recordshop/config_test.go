package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigEnvThenFlags(t *testing.T) {
	getenv := env(map[string]string{
		"RS_PG_URL":              "postgres://app:s3cret@db:5432/shop",
		"RS_REDIS_URL":           "redis://cache:6379/0",
		"RS_HTTP_ADDR":           ":9000",
		"RS_ADMIN_TOKENS":        "admin-token-aaaaaaaa, admin-token-bbbbbbbb",
		"RS_STOREFRONT_TOKENS":   "store-token-aaaaaaaa",
		"RS_PARTITIONS":          "32",
		"RS_LOG_LEVEL":           "debug",
		"RS_RESERVE_MODE":        "postgres",
		"RS_MAX_BACKLOG":         "1000",
		"RS_WRITER_BATCH":        "200",
		"RS_WRITER_WAIT":         "20ms",
		"RS_WRITER_CLAIM_IDLE":   "5s",
		"RS_REDIS_ORDER_TIMEOUT": "250ms",
		"RS_CURSOR_KEY":          "cursor-key-cccccccc",
		"RS_HTTP_READ_TIMEOUT":   "3s",
		"RS_REDIS_WAIT_REPLICAS": "2",
		"RS_REDIS_WAIT_TIMEOUT":  "100ms",
		"RS_SOLD_OUT_HOLD":       "250ms",
		"RS_GC_HEAP_FLOOR_MB":    "32",
	})
	cfg, fs, err := parseConfig("serve", getenv)
	if err != nil {
		t.Fatal(err)
	}
	if err := fs.Parse([]string{"--http-addr", "127.0.0.1:7000", "--partitions", "8", "--no-migrate", "--http-max-conns", "100"}); err != nil {
		t.Fatal(err)
	}
	want := config{
		PGURL: "postgres://app:s3cret@db:5432/shop", RedisURL: "redis://cache:6379/0", HTTPAddr: "127.0.0.1:7000",
		AdminTokens: []string{"admin-token-aaaaaaaa", "admin-token-bbbbbbbb"}, StorefrontTokens: []string{"store-token-aaaaaaaa"},
		Partitions: 8, LogLevel: "debug", ReserveMode: "postgres", NoMigrate: true,
		MaxBacklog: 1000, WriterBatch: 200, WriterWait: 20 * time.Millisecond, ClaimIdle: 5 * time.Second,
		RedisTimeout: 250 * time.Millisecond, CursorKey: "cursor-key-cccccccc", HTTPReadTimeout: 3 * time.Second, HTTPMaxConns: 100,
		WaitReplicas: 2, WaitTimeout: 100 * time.Millisecond, MetricsAddr: ":9091", SoldOutHold: 250 * time.Millisecond,
		GCHeapFloorMB: 32,
	}
	if diff := cmp.Diff(want, *cfg); diff != "" {
		t.Fatalf("config (-want +got):\n%s", diff)
	}
	if err := cfg.validate(true, true, true); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
}

func TestConfigDefaults(t *testing.T) {
	cfg, _, err := parseConfig("migrate", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(defaultConfig(), *cfg); diff != "" {
		t.Fatalf("defaults (-want +got):\n%s", diff)
	}
}

func TestConfigValidate(t *testing.T) {
	good := defaultConfig()
	good.PGURL, good.RedisURL = "postgres://localhost/x", "redis://localhost:6379/0"
	good.AdminTokens, good.StorefrontTokens = []string{"0123456789abcdef"}, []string{"fedcba9876543210"}
	tests := []struct {
		name   string
		mutate func(*config)
		want   string // part of the error; "" = valid
	}{
		{"valid", func(*config) {}, ""},
		{"no pg url", func(c *config) { c.PGURL = "" }, "RS_PG_URL"},
		{"pg url of another scheme", func(c *config) { c.PGURL = "mysql://x" }, "RS_PG_URL"},
		{"no redis url", func(c *config) { c.RedisURL = "" }, "RS_REDIS_URL"},
		{"bad address", func(c *config) { c.HTTPAddr = "8080" }, "RS_HTTP_ADDR"},
		{"no admin token", func(c *config) { c.AdminTokens = nil }, "RS_ADMIN_TOKENS"},
		{"short storefront token", func(c *config) { c.StorefrontTokens = []string{"short"} }, "RS_STOREFRONT_TOKENS"},
		{"zero partitions", func(c *config) { c.Partitions = 0 }, "RS_PARTITIONS"},
		{"bad log level", func(c *config) { c.LogLevel = "loud" }, "RS_LOG_LEVEL"},
		{"bad reserve mode", func(c *config) { c.ReserveMode = "memory" }, "RS_RESERVE_MODE"},
		{"negative backlog bound", func(c *config) { c.MaxBacklog = -1 }, "RS_MAX_BACKLOG"},
		{"zero writer batch", func(c *config) { c.WriterBatch = 0 }, "RS_WRITER_BATCH"},
		{"claim idle too short", func(c *config) { c.ClaimIdle = time.Millisecond }, "RS_WRITER_CLAIM_IDLE"},
		{"order redis timeout too short", func(c *config) { c.RedisTimeout = time.Millisecond }, "RS_REDIS_ORDER_TIMEOUT"},
		{"negative heap floor", func(c *config) { c.GCHeapFloorMB = -1 }, "RS_GC_HEAP_FLOOR_MB"},
		{"heap floor beyond 4 GB", func(c *config) { c.GCHeapFloorMB = 4097 }, "RS_GC_HEAP_FLOOR_MB"},
		{"no heap floor", func(c *config) { c.GCHeapFloorMB = 0 }, ""},
		{"cluster", func(c *config) { c.RedisURL, c.RedisCluster = "", []string{"10.0.0.1:6379", "10.0.0.2:6379"} }, ""},
		{"cluster with credentials and tls", func(c *config) {
			c.RedisURL, c.RedisCluster = "", []string{"rediss://app:pw@node1:6379", "node2:6379", "rediss://app:pw@node3:6379"}
		}, ""},
		{"cluster nodes disagreeing on the password", func(c *config) {
			c.RedisURL, c.RedisCluster = "", []string{"redis://:a@node1:6379", "redis://:b@node2:6379"}
		}, "passwords"},
		{"cluster node without a port", func(c *config) { c.RedisURL, c.RedisCluster = "", []string{"node1"} }, "host:port"},
		{"cluster and one server", func(c *config) { c.RedisCluster = []string{"10.0.0.1:6379"} }, "exactly one"},
		{"sentinel", func(c *config) { c.RedisURL, c.RedisSentinels, c.RedisMaster = "", []string{"s1:26379"}, "shop" }, ""},
		{"sentinel without a master name", func(c *config) { c.RedisURL, c.RedisSentinels = "", []string{"s1:26379"} }, "RS_REDIS_SENTINEL_MASTER"},
		{"wait replicas out of range", func(c *config) { c.WaitReplicas = 17 }, "RS_REDIS_WAIT_REPLICAS"},
		{"wait timeout beyond the order timeout", func(c *config) { c.WaitTimeout = c.RedisTimeout }, "RS_REDIS_WAIT_TIMEOUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.mutate(&c)
			err := c.validate(true, true, true)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("valid config refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err = %v; want one naming %s", err, tt.want)
			}
		})
	}
	for k, v := range map[string]string{"RS_PARTITIONS": "many", "RS_MAX_BACKLOG": "lots", "RS_WRITER_WAIT": "soon", "RS_GC_HEAP_FLOOR_MB": "64MB"} {
		if _, _, err := parseConfig("serve", env(map[string]string{k: v})); err == nil {
			t.Fatalf("%s=%s was accepted", k, v)
		}
	}
}

// TestReplicationDefaults: a reservation waits for one replica by default where there are replicas (a cluster,
// a Sentinel-managed primary) and for none on one server; RS_REDIS_WAIT_REPLICAS overrides both.
func TestReplicationDefaults(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  map[string]string
		want int
	}{
		{"one server", map[string]string{"RS_REDIS_URL": "redis://r:6379/0"}, 0},
		{"cluster", map[string]string{"RS_REDIS_CLUSTER_ADDRS": "a:1,b:2"}, 1},
		{"sentinel", map[string]string{"RS_REDIS_SENTINEL_ADDRS": "s:26379", "RS_REDIS_SENTINEL_MASTER": "m"}, 1},
		{"cluster, set to 0", map[string]string{"RS_REDIS_CLUSTER_ADDRS": "a:1", "RS_REDIS_WAIT_REPLICAS": "0"}, 0},
		{"one server, set to 1", map[string]string{"RS_REDIS_URL": "redis://r:6379/0", "RS_REDIS_WAIT_REPLICAS": "1"}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, err := parseConfig("serve", env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.replication().Replicas; got != tt.want {
				t.Fatalf("replicas waited for = %d; want %d", got, tt.want)
			}
		})
	}
}

func TestConfigLogMasksSecrets(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	cfg := config{PGURL: "postgres://app:s3cret@db/shop", RedisURL: "redis://:hunter2@cache:6379/0",
		AdminTokens: []string{"admin-token-aaaaaaaa"}, StorefrontTokens: []string{"store-token-aaaaaaaa"}, CursorKey: "cursor-key-cccccccc"}
	zap.New(core).Info("starting", cfg.fields()...)
	line := ""
	for k, v := range logs.All()[0].ContextMap() {
		line += k + "=" + fmt.Sprint(v) + " "
	}
	for _, secret := range []string{"s3cret", "hunter2", "admin-token-aaaaaaaa", "store-token-aaaaaaaa", "cursor-key-cccccccc"} {
		if strings.Contains(line, secret) {
			t.Fatalf("log line shows a secret %q: %s", secret, line)
		}
	}
	cluster := config{RedisCluster: []string{"rediss://app:clusterpw@node1:6379", "node2:6379"}}
	if shown := cluster.topology().String(); strings.Contains(shown, "clusterpw") || !strings.Contains(shown, "node2:6379") {
		t.Fatalf("cluster topology shown as %q; want the nodes without the password", shown)
	}
	if !strings.Contains(line, "db/shop") || !strings.Contains(line, "admin_tokens=1") {
		t.Fatalf("log line lost the non-secret parts: %s", line)
	}
}

// TestCursorKey: replicas configured alike sign cursors alike, with or without RS_CURSOR_KEY; other admin
// tokens give another key.
func TestCursorKey(t *testing.T) {
	a := config{AdminTokens: []string{"admin-token-aaaaaaaa", "admin-token-bbbbbbbb"}}
	b := config{AdminTokens: []string{"admin-token-bbbbbbbb", "admin-token-aaaaaaaa"}}
	c := config{AdminTokens: []string{"admin-token-cccccccc"}}
	if string(a.cursorKey()) != string(b.cursorKey()) {
		t.Error("the same admin tokens in another order give another cursor key")
	}
	if string(a.cursorKey()) == string(c.cursorKey()) {
		t.Error("other admin tokens give the same cursor key")
	}
	set := config{CursorKey: "cursor-key-cccccccc", AdminTokens: a.AdminTokens}
	if string(set.cursorKey()) != "cursor-key-cccccccc" {
		t.Errorf("RS_CURSOR_KEY not used: %q", set.cursorKey())
	}
}

// TestEachCommandShowsItsOwnFlags: -h of a subcommand lists the flags it reads and none that it ignores.
func TestEachCommandShowsItsOwnFlags(t *testing.T) {
	tests := []struct {
		cmd        string
		has, lacks []string
	}{
		{"migrate", []string{"-pg-url"}, []string{"-redis-url", "-writer-batch", "-http-addr", "-admin-tokens"}},
		{"seed", []string{"-pg-url", "-discs"}, []string{"-redis-url", "-writer-batch", "-http-addr"}},
		{"writer", []string{"-redis-url", "-writer-batch", "-writer-claim-idle"}, []string{"-http-addr", "-admin-tokens", "-max-backlog", "-json"}},
		{"reconcile", []string{"-redis-url", "-json", "-fix", "-stuck-after"}, []string{"-http-addr", "-writer-batch", "-max-backlog"}},
		{"serve", []string{"-http-addr", "-admin-tokens", "-writer-batch", "-no-migrate", "-http-read-timeout"}, []string{"-json", "-discs", "-stuck-after"}},
		{"dev", []string{"-http-addr", "-no-writer"}, []string{"-no-migrate", "-json", "-discs"}},
	}
	for _, tt := range tests {
		t.Run(tt.cmd, func(t *testing.T) {
			var out, help strings.Builder
			if err := run(context.Background(), []string{tt.cmd, "-h"}, env(nil), &out, &help); err != nil {
				t.Fatalf("%s -h: %v", tt.cmd, err)
			}
			flags := map[string]bool{}
			for _, line := range strings.Split(help.String(), "\n") {
				if f, ok := strings.CutPrefix(line, "  -"); ok {
					flags["-"+strings.Fields(f)[0]] = true
				}
			}
			for _, f := range tt.has {
				if !flags[f] {
					t.Errorf("%s -h does not show %s:\n%s", tt.cmd, f, help.String())
				}
			}
			for _, f := range tt.lacks {
				if flags[f] {
					t.Errorf("%s -h shows %s, which it does not read", tt.cmd, f)
				}
			}
		})
	}
}
