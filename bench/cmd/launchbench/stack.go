package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"

	"github.com/learecordshop/recordshop/biz/api"
	"github.com/learecordshop/recordshop/dal/devstack"
	rsredis "github.com/learecordshop/recordshop/dal/redis"
)

// partitions is RS_PARTITIONS of every shop the bench starts (the default).
const partitions = 16

const (
	adminToken      = "bench-admin-token-0123456789"
	storefrontToken = "bench-storefront-token-0123456789"
)

// shop is one fresh stack: devstack Postgres (durable) and Redis (AOF everysec), and a child server process,
// either `recordshop serve` or the bare ceiling server.
type shop struct {
	stack *devstack.Stack
	pool  *pgxpool.Pool
	rdb   goredis.UniversalClient
	cmd   *exec.Cmd
	base  string   // http://127.0.0.1:port
	env   []string // the RS_* settings the child got (secrets masked where printed)
	bin   string
	mode  string
	logf  func(string, ...any)
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// newShop starts a fresh stack (with Postgres and Redis clients) and picks the address its server will take.
func newShop(ctx context.Context, bin, mode string, logf func(string, ...any)) (*shop, string, error) {
	st, err := devstack.Start(ctx, devstack.Options{Durable: true, RedisAOF: true})
	if err != nil {
		return nil, "", err
	}
	s := &shop{stack: st, bin: bin, mode: mode, logf: logf}
	if s.pool, err = pgxpool.New(ctx, st.PGURL); err == nil {
		s.rdb, err = rsredis.Connect(ctx, rsredis.Topology{URL: st.RedisURL})
	}
	addr := ""
	if err == nil {
		addr, err = freeAddr()
	}
	if err != nil {
		s.stop()
		return nil, "", err
	}
	s.base = "http://" + addr
	return s, addr, nil
}

// startShop starts a fresh stack and `recordshop serve` in the given reserve mode. The customers (ids from..to)
// sign up before serve starts, as buyers of a launch do: serve warms its customer cache with them, so the
// order path makes no Postgres round trip.
func startShop(ctx context.Context, bin, mode string, customers int, logf func(string, ...any)) (s *shop, from, to int64, err error) {
	return startShopWith(ctx, bin, mode, customers, logf, "", nil)
}

// startShopWith is startShop with serve confined to the cores cpus (taskset -c, from its start, so that the Go
// runtime sizes itself to them; "" = not confined), more RS_* settings (env, after the bench's own, so they win)
// and flags for `recordshop serve` (serveArgs, e.g. --no-writer).
func startShopWith(ctx context.Context, bin, mode string, customers int, logf func(string, ...any), cpus string,
	env []string, serveArgs ...string) (s *shop, from, to int64, err error) {
	s, addr, err := newShop(ctx, bin, mode, logf)
	if err != nil {
		return nil, 0, 0, err
	}
	s.env = []string{"RS_PG_URL=" + s.stack.PGURL, "RS_REDIS_URL=" + s.stack.RedisURL, "RS_HTTP_ADDR=" + addr,
		"RS_ADMIN_TOKENS=" + adminToken, "RS_STOREFRONT_TOKENS=" + storefrontToken, "RS_LOG_LEVEL=warn",
		"RS_RESERVE_MODE=" + mode, "RS_PARTITIONS=" + strconv.Itoa(partitions)}
	s.env = append(s.env, env...)
	migrate := exec.CommandContext(ctx, bin, "migrate")
	migrate.Env = append(os.Environ(), s.env...)
	if out, err := migrate.CombinedOutput(); err != nil {
		s.stop()
		return nil, 0, 0, fmt.Errorf("recordshop migrate: %w: %s", err, out)
	}
	if from, to, err = s.addCustomers(ctx, customers); err != nil {
		s.stop()
		return nil, 0, 0, err
	}
	if cpus == "" {
		s.cmd = exec.Command(bin, append([]string{"serve"}, serveArgs...)...)
	} else {
		s.cmd = exec.Command("taskset", append([]string{"-c", cpus, bin, "serve"}, serveArgs...)...)
	}
	s.cmd.Env = append(os.Environ(), s.env...)
	s.cmd.Stdout, s.cmd.Stderr = os.Stderr, os.Stderr
	if err := s.cmd.Start(); err != nil {
		s.stop()
		return nil, 0, 0, err
	}
	if err := waitHTTP(ctx, s.base+"/readyz"); err != nil {
		s.stop()
		return nil, 0, 0, fmt.Errorf("recordshop serve did not become ready: %w", err)
	}
	return s, from, to, nil
}

// startCeiling starts a fresh stack and the bare ceiling server on its Redis.
func startCeiling(ctx context.Context, bin string, logf func(string, ...any)) (*shop, error) {
	s, addr, err := newShop(ctx, bin, "ceiling", logf)
	if err != nil {
		return nil, err
	}
	s.cmd = exec.Command(bin, "-addr", addr, "-redis-url", s.stack.RedisURL, "-disc", "1")
	s.cmd.Stdout, s.cmd.Stderr = os.Stderr, os.Stderr
	if err := s.cmd.Start(); err != nil {
		s.stop()
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return s, nil
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("ceiling server did not listen: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitHTTP(ctx context.Context, url string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			if err == nil {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *shop) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = s.cmd.Process.Kill()
			<-done
		}
	}
	if s.pool != nil {
		s.pool.Close()
	}
	if s.rdb != nil {
		_ = s.rdb.Close()
	}
	if s.stack != nil {
		if err := s.stack.Stop(); err != nil {
			s.logf("stack stop: %v", err)
		}
	}
}

// admin sends a JSON request with the admin token and decodes the answer into out.
func (s *shop) admin(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

type disc struct {
	ID        int64 `json:"id"`
	Stock     int64 `json:"stock"`
	Available int64 `json:"available"`
}

func (s *shop) createDisc(name string, stock int64, limit int) (disc, error) {
	var d disc
	err := s.admin("POST", "/v1/discs", map[string]any{"name": name, "artist": "Hohpe", "release_year": 2022,
		"style": "Indie", "price_cents": 4990, "stock": stock, "per_customer_limit": limit}, &d)
	return d, err
}

func (s *shop) getDisc(id int64) (disc, error) {
	var d disc
	err := s.admin("GET", "/v1/discs/"+strconv.FormatInt(id, 10), nil, &d)
	return d, err
}

// addCustomers inserts n customers with SQL and returns the range of their ids.
func (s *shop) addCustomers(ctx context.Context, n int) (from, to int64, err error) {
	const q = `INSERT INTO customers (document, name, email, birth_date)
SELECT lpad((900000000 + i)::text, 11, '0'), 'B'||i, 'bench'||i||'@example.com', '1990-01-01' FROM generate_series(1, $1::int) i`
	if _, err = s.pool.Exec(ctx, q, n); err != nil {
		return 0, 0, fmt.Errorf("insert customers: %w", err)
	}
	err = s.pool.QueryRow(ctx, `SELECT min(id), max(id) FROM customers WHERE email LIKE 'bench%'`).Scan(&from, &to)
	return from, to, err
}

// seed runs `recordshop seed --discs n` (the catalog for browse).
func (s *shop) seed(ctx context.Context, n int) error {
	cmd := exec.CommandContext(ctx, s.bin, "seed", "--discs", strconv.Itoa(n))
	cmd.Env = append(os.Environ(), s.env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("seed: %w: %s", err, out)
	}
	return nil
}

// backlog is how many confirmed orders wait for Postgres: the pending hashes of every partition.
func (s *shop) backlog() (int64, error) {
	// Redis itself, not the writer's gauge: that is sampled when the writer reads, so it can say 0 while a
	// batch it just read is still on its way to Postgres.
	keys := rsredis.Keys{Namespace: api.DefaultNamespace, Partitions: partitions}
	ctx := context.Background()
	cmds := make([]*goredis.IntCmd, partitions)
	if _, err := s.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i := range cmds {
			cmds[i] = p.HLen(ctx, keys.Pending(i))
		}
		return nil
	}); err != nil {
		return 0, err
	}
	var sum int64
	for _, c := range cmds {
		sum += c.Val()
	}
	return sum, nil
}

// reconcile runs `recordshop reconcile --json` and returns its exit code and output.
func (s *shop) reconcile(ctx context.Context) (int, string) {
	cmd := exec.CommandContext(ctx, s.bin, "reconcile", "--json")
	cmd.Env = append(os.Environ(), s.env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		}
		return -1, err.Error()
	}
	return 0, string(out)
}

// redisPID finds the devstack redis-server of this stack by its port.
func (s *shop) redisPID() int {
	port := s.stack.RedisURL[strings.LastIndex(s.stack.RedisURL, ":")+1:]
	port = strings.TrimSuffix(port, "/0")
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(d + "/cmdline")
		if err != nil {
			continue
		}
		// redis-server rewrites its command line to "redis-server 127.0.0.1:<port>", dropping its flags.
		cmdline := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.Contains(cmdline, "redis-server") && (strings.Contains(cmdline, ":"+port+" ") || strings.HasSuffix(strings.TrimSpace(cmdline), ":"+port) ||
			strings.Contains(cmdline, "--port "+port+" ")) {
			pid, _ := strconv.Atoi(filepath.Base(d))
			return pid
		}
	}
	return 0
}

// peakRSS reads VmHWM (peak resident set) of pid in MiB; 0 when unknown.
func peakRSS(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// resetPeakRSS resets VmHWM (Linux clear_refs 5), so each scenario reports its own peak.
func resetPeakRSS(pid int) {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

type rss struct{ Shop, Redis float64 }

func (s *shop) peaks() rss {
	r := rss{Redis: peakRSS(s.redisPID())}
	if s.cmd != nil && s.cmd.Process != nil {
		r.Shop = peakRSS(s.cmd.Process.Pid)
	}
	return r
}

func (s *shop) resetPeaks() {
	resetPeakRSS(s.redisPID())
	if s.cmd != nil && s.cmd.Process != nil {
		resetPeakRSS(s.cmd.Process.Pid)
	}
}
