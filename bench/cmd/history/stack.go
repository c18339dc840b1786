package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"

	"github.com/learecordshop/recordshop/biz/api"
	"github.com/learecordshop/recordshop/dal/devstack"
	rsredis "github.com/learecordshop/recordshop/dal/redis"
)

// partitions is RS_PARTITIONS of the shop (the default); the fill gives every order stream_partition =
// disc_id mod partitions, and `recordshop serve` records it in both stores on its first start.
const partitions = 16

const (
	adminToken      = "history-admin-token-0123456789"
	storefrontToken = "history-storefront-token-0123456789"
)

// stack is one throwaway devstack (non-durable Postgres, Redis without AOF) with the clients the harness
// reads it with, and the recordshop child processes it runs on it.
type stack struct {
	dev       *devstack.Stack
	pool      *pgxpool.Pool
	rdb       goredis.UniversalClient
	keys      rsredis.Keys
	bin       string
	env       []string
	base      string    // http://127.0.0.1:port of serve
	pgLog     string    // the Postgres server log, where auto_explain writes plans
	stats     *pgx.Conn // to the maintenance database, for pg_stat_statements: the shop's own may be dropped
	opTimeout time.Duration

	serve     *exec.Cmd
	serveDone chan struct{}
	serveOut  *tailBuffer
}

// startStack starts a devstack, loads pg_stat_statements and auto_explain into its Postgres (a restart) and
// connects to both stores. Nothing of the shop is there yet: the caller migrates and fills.
func startStack(ctx context.Context, c config) (*stack, error) {
	dev, err := devstack.Start(ctx, devstack.Options{Dir: c.dir, Durable: false})
	if err != nil {
		return nil, err
	}
	s := &stack{dev: dev, bin: c.recordshop, opTimeout: c.opTimeout,
		keys: rsredis.Keys{Namespace: api.DefaultNamespace, Partitions: partitions}}
	if err := s.connect(ctx); err != nil {
		s.stop()
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		s.stop()
		return nil, err
	}
	s.base = "http://" + addr
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RS_") { // a stray RS_REDIS_CLUSTER_ADDRS would name a second topology
			s.env = append(s.env, kv)
		}
	}
	s.env = append(s.env, "RS_PG_URL="+dev.PGURL, "RS_REDIS_URL="+dev.RedisURL, "RS_HTTP_ADDR="+addr,
		"RS_ADMIN_TOKENS="+adminToken, "RS_STOREFRONT_TOKENS="+storefrontToken, "RS_LOG_LEVEL=warn",
		"RS_PARTITIONS="+strconv.Itoa(partitions))
	return s, nil
}

func (s *stack) connect(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, s.dev.PGURL)
	if err != nil {
		return err
	}
	_, err = conn.Exec(ctx, `ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements', 'auto_explain'`)
	_ = conn.Close(ctx)
	if err != nil {
		return err
	}
	if err := s.dev.RestartPostgres(ctx); err != nil {
		return err
	}
	if err := s.openPool(ctx); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`); err != nil {
		return fmt.Errorf("pg_stat_statements: %w", err)
	}
	if s.stats, err = pgx.Connect(ctx, s.dbURL("postgres")); err != nil {
		return err
	}
	if _, err := s.stats.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`); err != nil {
		return fmt.Errorf("pg_stat_statements: %w", err)
	}
	var dataDir string
	if err := s.pool.QueryRow(ctx, `SHOW data_directory`).Scan(&dataDir); err != nil {
		return err
	}
	// devstack writes the server's output to <its dir>/postgres.log, beside <its dir>/pg/data.
	s.pgLog = filepath.Join(filepath.Dir(filepath.Dir(dataDir)), "postgres.log")
	s.rdb, err = rsredis.Connect(ctx, rsredis.Topology{URL: s.dev.RedisURL})
	return err
}

func (s *stack) openPool(ctx context.Context) error {
	cfg, err := pgxpool.ParseConfig(s.dev.PGURL)
	if err != nil {
		return err
	}
	cfg.MaxConns = 4
	s.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	return err
}

// dbURL is the stack's Postgres URL for another database of the same server.
func (s *stack) dbURL(name string) string {
	u, err := url.Parse(s.dev.PGURL)
	if err != nil {
		return s.dev.PGURL
	}
	u.Path = "/" + name
	return u.String()
}

// admin runs a statement on the maintenance database (CREATE/DROP DATABASE cannot run in the one they name).
func (s *stack) admin(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.dbURL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql)
	return err
}

func (s *stack) stop() {
	s.stopServe()
	if s.pool != nil {
		s.pool.Close()
	}
	if s.stats != nil {
		_ = s.stats.Close(context.Background())
	}
	if s.rdb != nil {
		_ = s.rdb.Close()
	}
	if s.dev != nil {
		if err := s.dev.Stop(); err != nil {
			logf("stack stop: %v", err)
		}
	}
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// childRun is one finished recordshop child process.
type childRun struct {
	wall   time.Duration
	cpu    time.Duration // user + system of the child itself (not of Postgres or Redis)
	maxRSS int64         // KiB
	exit   int
	out    string // the tail of what it printed
	head   string // and its head
	// timedOut are the statements Postgres cancelled on statement_timeout while it ran.
	timedOut []string
}

// run runs `recordshop args...` to its end, bounded by the op timeout, and times it from exec to exit.
func (s *stack) run(ctx context.Context, env []string, args ...string) (childRun, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bin, args...)
	cmd.Env = s.env
	if env != nil {
		cmd.Env = env
	}
	out := &tailBuffer{max: 64 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	logAt := fileSize(s.pgLog)
	start := time.Now()
	err := cmd.Run()
	r := childRun{wall: time.Since(start), out: out.String(), head: out.Head(), timedOut: s.timedOutSince(logAt)}
	if st := cmd.ProcessState; st != nil {
		r.exit = st.ExitCode()
		r.cpu = st.UserTime() + st.SystemTime()
		if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
			r.maxRSS = ru.Maxrss
		}
	}
	if ctx.Err() != nil {
		return r, fmt.Errorf("recordshop %s: %w after %s", strings.Join(args, " "), ctx.Err(), r.wall.Round(time.Millisecond))
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return r, fmt.Errorf("recordshop %s: %w", strings.Join(args, " "), err)
	}
	return r, nil
}

// startServe starts `recordshop serve` and returns how long it took from exec until GET /readyz answered 200.
func (s *stack) startServe(ctx context.Context) (time.Duration, error) {
	cmd := exec.Command(s.bin, "serve")
	cmd.Env = s.env
	s.serveOut = &tailBuffer{max: 64 << 10}
	cmd.Stdout, cmd.Stderr = s.serveOut, s.serveOut
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.serve, s.serveDone = cmd, done
	// serve listens before it prepares the stores: a request sent early waits in the accept queue and is
	// answered the moment the server runs, so a long client timeout keeps the resolution of the poll.
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(s.opTimeout)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/readyz", nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(start), nil
			}
		}
		select {
		case <-done:
			return 0, fmt.Errorf("recordshop serve exited during start-up: %s", lastLines(s.serveOut.String(), 15))
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("recordshop serve not ready after %s: %s", s.opTimeout, lastLines(s.serveOut.String(), 15))
		}
	}
}

// stopServe stops serve (SIGTERM, then SIGKILL after 20 s); a no-op when it is not running.
func (s *stack) stopServe() {
	if s.serve == nil {
		return
	}
	_ = s.serve.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.serveDone:
	case <-time.After(20 * time.Second):
		_ = s.serve.Process.Kill()
		<-s.serveDone
	}
	s.serve, s.serveDone = nil, nil
}

// serveUsage reads serve's CPU so far and its peak RSS (KiB) from /proc.
func (s *stack) serveUsage() (cpu time.Duration, peakKiB int64) {
	if s.serve == nil || s.serve.Process == nil {
		return 0, 0
	}
	pid := s.serve.Process.Pid
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// The command name in parentheses may hold spaces; the fields after it are fixed: utime is the 14th
		// field of the line, stime the 15th, in clock ticks (100 a second on Linux).
		if i := bytes.LastIndexByte(b, ')'); i > 0 {
			f := strings.Fields(string(b[i+1:]))
			if len(f) > 12 {
				ut, _ := strconv.ParseInt(f[11], 10, 64)
				st, _ := strconv.ParseInt(f[12], 10, 64)
				cpu = time.Duration(ut+st) * 10 * time.Millisecond
			}
		}
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "VmHWM:") {
				if f := strings.Fields(line); len(f) > 1 {
					peakKiB, _ = strconv.ParseInt(f[1], 10, 64)
				}
			}
		}
	}
	return cpu, peakKiB
}

// flushRedis empties Redis, as a Redis that lost its data (or a new one) is.
func (s *stack) flushRedis(ctx context.Context) error {
	return s.rdb.FlushAll(ctx).Err()
}

// tailBuffer keeps the first and the last max bytes written to it: the head of a report (its table) and its
// tail (the summary line).
type tailBuffer struct {
	mu      sync.Mutex
	max     int
	head, b []byte
	cut     bool
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.head) < t.max {
		n := min(t.max-len(t.head), len(p))
		t.head = append(t.head, p[:n]...)
	}
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
		t.cut = true
	}
	return len(p), nil
}

// String is the tail (all of it when it was short).
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// Head is the first max bytes.
func (t *tailBuffer) Head() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.head)
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
