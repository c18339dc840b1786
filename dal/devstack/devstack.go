// Package devstack starts a throwaway local Postgres and Redis for `recordshop dev`, the integration tests and the
// bench. Both servers live in one temporary directory, listen on 127.0.0.1 only, die with the process that started
// them, and vanish with Stop.
//
// It owns those server processes: finding their binaries, initdb, ports, start, restart and kill for the fault
// tests, and removing their data. Missing binaries are installed with apt-get when we are root on Debian or
// Ubuntu (install.go); a build with -tags nodev, which is how deploy/Dockerfile builds the production image,
// compiles no installer and only says what to install.
//
// It must not touch anything but the servers it started: no schema, no keys, no knowledge of recordshop's data
// (dal/pg migrates, dal/testenv hands out databases and key prefixes), and it is never a dependency of serve,
// writer or reconcile.
package devstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

const (
	database     = "recordshop"     // the database Start creates; PGURL points at it
	readyTimeout = 30 * time.Second // how long a server may take to accept connections
	stopGrace    = 5 * time.Second  // how long a server may take to exit before it is killed
	pollEvery    = 50 * time.Millisecond
)

// Options configures Start. The zero value is a fast, non-durable stack on free ports in os.TempDir().
type Options struct {
	Dir       string // parent for the temp dir; "" = os.TempDir()
	PGPort    int    // 0 = pick a free port on 127.0.0.1
	RedisPort int    // 0 = pick a free port on 127.0.0.1
	// Durable false (default) runs Postgres with fsync=off, synchronous_commit=off and full_page_writes=off, which
	// is safe for data nobody keeps and much faster for tests; true keeps the Postgres defaults.
	Durable bool
	// RedisAOF turns on the append-only file (appendfsync everysec), so data survives RestartRedis.
	RedisAOF bool
	// Logf receives progress lines; nil is silent.
	Logf func(format string, args ...any)
}

// Stack is a running Postgres and Redis. PGURL and RedisURL are ready to hand to pgx and go-redis.
type Stack struct {
	PGURL    string
	RedisURL string

	logf   func(string, ...any)
	dir    string // the temp dir; Stop removes it
	pgPort int

	mu      sync.Mutex // guards the servers against concurrent Stop and Restart*
	pg      *server
	redis   *server
	stopped bool
}

// Start finds (or installs) the server binaries, creates a temp dir under o.Dir, initialises a Postgres cluster,
// starts Postgres and Redis, waits until both answer and creates the database "recordshop". ctx bounds the
// start-up only; the servers run until Stop or until this process dies. On error nothing is left behind.
func Start(ctx context.Context, o Options) (*Stack, error) {
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	pgBin, redisBin, err := EnsureBinaries(logf)
	if err != nil {
		return nil, fmt.Errorf("devstack.start: %w", err)
	}
	pgPort, redisPort := o.PGPort, o.RedisPort
	if pgPort == 0 {
		if pgPort, err = freePort(); err != nil {
			return nil, fmt.Errorf("devstack.start: %w", err)
		}
	}
	if redisPort == 0 {
		if redisPort, err = freePort(); err != nil {
			return nil, fmt.Errorf("devstack.start: %w", err)
		}
	}

	dir, err := os.MkdirTemp(o.Dir, "recordshop-devstack-")
	if err != nil {
		return nil, fmt.Errorf("devstack.start: temp dir: %w", err)
	}
	s := &Stack{
		PGURL:    fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", pgPort, database),
		RedisURL: fmt.Sprintf("redis://127.0.0.1:%d/0", redisPort),
		logf:     logf,
		dir:      dir,
		pgPort:   pgPort,
	}
	if err := s.start(ctx, o, pgBin, redisBin, pgPort, redisPort); err != nil {
		if stopErr := s.Stop(); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
		return nil, fmt.Errorf("devstack.start: %w", err)
	}
	return s, nil
}

func (s *Stack) start(ctx context.Context, o Options, pgBin, redisBin string, pgPort, redisPort int) error {
	cred, err := postgresCredential()
	if err != nil {
		return err
	}
	if cred != nil {
		// The unprivileged Postgres user must be able to reach its data dir inside our 0700 temp dir.
		if err := os.Chmod(s.dir, 0o711); err != nil {
			return fmt.Errorf("temp dir: %w", err)
		}
	}
	pgDir := filepath.Join(s.dir, "pg")
	dataDir := filepath.Join(pgDir, "data")
	sockDir := filepath.Join(pgDir, "sock")
	for _, d := range []string{pgDir, dataDir, sockDir} {
		if err := mkdirFor(d, cred); err != nil {
			return err
		}
	}
	if err := initdb(ctx, pgBin, dataDir, cred, s.logf); err != nil {
		return err
	}

	pgArgs := []string{
		"-D", dataDir, "-p", strconv.Itoa(pgPort), "-k", sockDir,
		"-c", "listen_addresses=127.0.0.1", "-c", "max_connections=300",
	}
	if !o.Durable {
		pgArgs = append(pgArgs, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	s.pg = &server{
		name: "postgres", path: filepath.Join(pgBin, "postgres"), args: pgArgs, dir: pgDir, cred: cred,
		log: filepath.Join(s.dir, "postgres.log"),
		// SIGTERM is Postgres's "smart" shutdown, which waits for every client to hang up; SIGINT is the "fast"
		// one that disconnects them and still writes a clean checkpoint.
		stopSignal: syscall.SIGINT,
	}
	redisDir := filepath.Join(s.dir, "redis")
	if err := os.Mkdir(redisDir, 0o700); err != nil {
		return fmt.Errorf("redis dir: %w", err)
	}
	aof := "no"
	if o.RedisAOF {
		aof = "yes"
	}
	s.redis = &server{
		name: "redis-server", path: redisBin, dir: redisDir, log: filepath.Join(s.dir, "redis.log"),
		args: []string{
			"--port", strconv.Itoa(redisPort), "--bind", "127.0.0.1", "--save", "", "--dir", redisDir,
			"--appendonly", aof, "--appendfsync", "everysec", "--daemonize", "no", "--protected-mode", "no",
			"--auto-aof-rewrite-min-size", "512mb", // as deploy/redis.conf
		},
		stopSignal: syscall.SIGTERM,
	}

	if err := s.startPostgres(ctx); err != nil {
		return err
	}
	if err := createDatabase(ctx, pgPort, database); err != nil {
		return err
	}
	return s.startRedis(ctx)
}

// Stop stops both servers (a clean shutdown signal, SIGKILL after a few seconds) and removes the temp dir with all
// data in it. It is safe to call twice.
func (s *Stack) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	s.stopped = true
	var errs []error
	for _, srv := range []*server{s.redis, s.pg} {
		if srv != nil {
			srv.stop(srv.stopSignal, stopGrace)
		}
	}
	if err := os.RemoveAll(s.dir); err != nil {
		errs = append(errs, fmt.Errorf("remove %s: %w", s.dir, err))
	}
	s.logf("devstack: stopped, removed %s", s.dir)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("devstack.stop: %w", err)
	}
	return nil
}

// RestartRedis kills redis-server (SIGKILL, as a crash would) and starts it again on the same port and dir, then
// waits until it answers. With RedisAOF the data written before the kill is loaded back.
func (s *Stack) RestartRedis(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return errors.New("devstack.restart_redis: stack is stopped")
	}
	s.redis.stop(syscall.SIGKILL, 0)
	if err := s.startRedis(ctx); err != nil {
		return fmt.Errorf("devstack.restart_redis: %w", err)
	}
	return nil
}

// KillRedis kills redis-server (SIGKILL, as a crash would) and leaves it down until StartRedis, so that a fault
// test can hold an outage open; RestartRedis is the pair in one step.
func (s *Stack) KillRedis() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return errors.New("devstack.kill_redis: stack is stopped")
	}
	s.redis.stop(syscall.SIGKILL, 0)
	return nil
}

// StartRedis starts Redis again after KillRedis, on the same port and dir (with RedisAOF, on the same data),
// and waits until it answers.
func (s *Stack) StartRedis(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return errors.New("devstack.start_redis: stack is stopped")
	}
	if s.redis.cmd != nil {
		return errors.New("devstack.start_redis: redis is running")
	}
	if err := s.startRedis(ctx); err != nil {
		return fmt.Errorf("devstack.start_redis: %w", err)
	}
	return nil
}

// RestartPostgres stops Postgres with a fast shutdown, starts it again on the same port and data dir, and waits
// until it accepts connections. Open connections are cut; pools reconnect on their next use.
func (s *Stack) RestartPostgres(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return errors.New("devstack.restart_postgres: stack is stopped")
	}
	s.pg.stop(s.pg.stopSignal, stopGrace)
	if err := s.startPostgres(ctx); err != nil {
		return fmt.Errorf("devstack.restart_postgres: %w", err)
	}
	return nil
}

// StopPostgres stops Postgres with a fast shutdown and leaves it down until StartPostgres, so that a fault test
// can hold an outage open for as long as it needs; RestartPostgres is the pair in one step.
func (s *Stack) StopPostgres() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return errors.New("devstack.stop_postgres: stack is stopped")
	}
	s.pg.stop(s.pg.stopSignal, stopGrace)
	return nil
}

// StartPostgres starts Postgres again after StopPostgres, on the same port and data dir, and waits until it
// accepts connections.
func (s *Stack) StartPostgres(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return errors.New("devstack.start_postgres: stack is stopped")
	}
	if s.pg.cmd != nil {
		return errors.New("devstack.start_postgres: postgres is running")
	}
	if err := s.startPostgres(ctx); err != nil {
		return fmt.Errorf("devstack.start_postgres: %w", err)
	}
	return nil
}

func (s *Stack) startPostgres(ctx context.Context) error {
	if err := s.pg.start(); err != nil {
		return err
	}
	err := s.pg.waitReady(ctx, func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, maintenanceURL(s.pgPort))
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	})
	if err != nil {
		return err
	}
	s.logf("devstack: postgres ready at %s", s.PGURL)
	return nil
}

func (s *Stack) startRedis(ctx context.Context) error {
	if err := s.redis.start(); err != nil {
		return err
	}
	opts, err := redis.ParseURL(s.RedisURL)
	if err != nil {
		return fmt.Errorf("redis url: %w", err)
	}
	opts.MaxRetries = -1
	client := redis.NewClient(opts)
	defer client.Close()
	// PING answers LOADING while an AOF is read back, so ready means loaded.
	err = s.redis.waitReady(ctx, func(ctx context.Context) error { return client.Ping(ctx).Err() })
	if err != nil {
		return err
	}
	s.logf("devstack: redis ready at %s", s.RedisURL)
	return nil
}

// maintenanceURL points at the database "postgres" that initdb always creates.
func maintenanceURL(port int) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
}

// createDatabase creates name through the maintenance database.
func createDatabase(ctx context.Context, port int, name string) error {
	conn, err := pgx.Connect(ctx, maintenanceURL(port))
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// initdb initialises a trust-auth cluster in dataDir. C.UTF-8 is not on every system, so C is the fallback.
func initdb(ctx context.Context, pgBin, dataDir string, cred *syscall.Credential, logf func(string, ...any)) error {
	var (
		out    []byte
		runErr error
	)
	for _, locale := range []string{"C.UTF-8", "C"} {
		logf("devstack: initdb %s (locale %s)", dataDir, locale)
		cmd := exec.CommandContext(ctx, filepath.Join(pgBin, "initdb"),
			"-D", dataDir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale="+locale, "--no-sync")
		cmd.Dir = filepath.Dir(dataDir)
		cmd.Env = childEnv()
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
		if out, runErr = cmd.CombinedOutput(); runErr == nil {
			return nil
		}
		// A failed initdb may leave files behind; the retry needs an empty dir again.
		if err := os.RemoveAll(dataDir); err != nil {
			return fmt.Errorf("initdb: %w", err)
		}
		if err := mkdirFor(dataDir, cred); err != nil {
			return err
		}
	}
	err := fmt.Errorf("initdb %s: %w", dataDir, runErr)
	if cred != nil {
		err = fmt.Errorf("%w (initdb runs as uid %d, which must be able to enter every parent dir)", err, cred.Uid)
	}
	if len(out) > 0 {
		err = fmt.Errorf("%w; output:\n%s", err, tail(out))
	}
	return err
}

// server is one child process that can be started again with the same arguments.
type server struct {
	name       string
	path       string
	args       []string
	dir        string // working dir of the child
	log        string // stdout and stderr of every run, appended
	cred       *syscall.Credential
	stopSignal syscall.Signal

	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

func (sv *server) start() error {
	logFile, err := os.OpenFile(sv.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("%s: log: %w", sv.name, err)
	}
	defer logFile.Close() // the child has its own descriptor once started
	cmd := exec.Command(sv.path, sv.args...)
	cmd.Dir = sv.dir
	cmd.Env = childEnv()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Pdeathsig kills the server when the thread that started it dies; Go keeps its threads for the life of the
	// process unless a goroutine exits while locked to one, so in practice: when this process dies, however.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Credential: sv.cred}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: start: %w", sv.name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait() // the exit status of a server we stop is not news; an early exit shows in the log
		close(done)
	}()
	sv.cmd, sv.done = cmd, done
	return nil
}

// waitReady polls ping until it succeeds, the server exits, or readyTimeout passes; errors carry the log's tail.
func (sv *server) waitReady(ctx context.Context, ping func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, 2*time.Second)
		err := ping(attempt)
		cancelAttempt()
		if err == nil {
			return nil
		}
		select {
		case <-sv.done:
			return fmt.Errorf("%s exited during start-up; log tail:\n%s", sv.name, sv.logTail())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w (last error: %v); log tail:\n%s", sv.name, ctx.Err(), err, sv.logTail())
		case <-time.After(pollEvery):
		}
	}
}

// stop sends sig, waits up to grace for the exit, then kills. It is a no-op if the server is not running.
func (sv *server) stop(sig syscall.Signal, grace time.Duration) {
	if sv.cmd == nil {
		return
	}
	select {
	case <-sv.done:
	default:
		_ = sv.cmd.Process.Signal(sig)
		select {
		case <-sv.done:
		case <-time.After(grace):
			_ = sv.cmd.Process.Kill()
			<-sv.done
		}
	}
	sv.cmd, sv.done = nil, nil
}

func (sv *server) logTail() string {
	b, err := os.ReadFile(sv.log)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return tail(b)
}

// tail returns the last lines of a log, enough to show why a server gave up.
func tail(b []byte) string {
	const maxLines = 25
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// childEnv is our environment without PG* variables, which would otherwise steer initdb and postgres.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	return env
}

// postgresCredential is the unprivileged user Postgres runs as when we are root (it refuses to run as root):
// "postgres" if it exists, else "nobody". It is nil when we are not root and Postgres simply runs as us.
func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	var lastErr error
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			lastErr = err
			continue
		}
		uid, err := strconv.ParseUint(u.Uid, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("user %s: uid %q: %w", name, u.Uid, err)
		}
		gid, err := strconv.ParseUint(u.Gid, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("user %s: gid %q: %w", name, u.Gid, err)
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, fmt.Errorf("no unprivileged user for postgres (tried postgres, nobody): %w", lastErr)
}

// mkdirFor creates dir with mode 0700, owned by cred's user when cred is set.
func mkdirFor(dir string, cred *syscall.Credential) error {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("mkdir: %w", err)
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
	}
	return nil
}

// freePort asks the kernel for a free port on 127.0.0.1. Another process could take it before the server binds
// it; the server then fails to start and says so in its log.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// EnsureBinaries returns the directory holding initdb and postgres and the path of redis-server. What is missing
// is installed by install (install.go: apt-get, when we are root on Debian or Ubuntu); a build with -tags nodev
// has no installer, and the error names the command to run instead.
func EnsureBinaries(logf func(string, ...any)) (pgBinDir, redisServer string, err error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	found := func() bool {
		pgBinDir, redisServer = findPostgres(), findRedis()
		return pgBinDir != "" && redisServer != ""
	}
	if found() {
		return pgBinDir, redisServer, nil
	}
	var pkgs []string
	if pgBinDir == "" {
		pkgs = append(pkgs, "postgresql")
	}
	if redisServer == "" {
		pkgs = append(pkgs, "redis-server")
	}
	if err := install(pkgs, found, logf); err != nil {
		return "", "", fmt.Errorf("ensure binaries: %w", err)
	}
	if !found() {
		return "", "", fmt.Errorf("ensure binaries: still missing after %s (postgres bin dir %q, redis-server %q)",
			installCommand(pkgs), pgBinDir, redisServer)
	}
	return pgBinDir, redisServer, nil
}

// installCommand is the command that installs pkgs, as the errors show it to a person.
func installCommand(pkgs []string) string { return "apt-get install -y " + strings.Join(pkgs, " ") }

// findPostgres returns the highest-versioned /usr/lib/postgresql/*/bin with initdb and postgres (Debian's layout),
// else the directory of initdb on PATH if postgres sits beside it, else "".
func findPostgres() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(d string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(d)), 64)
		return v
	}
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if hasPostgres(d) {
			return d
		}
	}
	initdbPath, err := exec.LookPath("initdb")
	if err != nil {
		return ""
	}
	candidates := []string{filepath.Dir(initdbPath)}
	if real, err := filepath.EvalSymlinks(initdbPath); err == nil {
		candidates = append(candidates, filepath.Dir(real))
	}
	for _, d := range candidates {
		if hasPostgres(d) {
			return d
		}
	}
	return ""
}

func hasPostgres(dir string) bool {
	return isExecutable(filepath.Join(dir, "initdb")) && isExecutable(filepath.Join(dir, "postgres"))
}

// findRedis returns redis-server from PATH, else /usr/bin/redis-server, else "".
func findRedis() string {
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p
	}
	if isExecutable("/usr/bin/redis-server") {
		return "/usr/bin/redis-server"
	}
	return ""
}

// findRedisCli returns redis-cli from PATH, else /usr/bin/redis-cli, else "". Debian ships it in redis-tools, which
// redis-server depends on.
func findRedisCli() string {
	if p, err := exec.LookPath("redis-cli"); err == nil {
		return p
	}
	if isExecutable("/usr/bin/redis-cli") {
		return "/usr/bin/redis-cli"
	}
	return ""
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}
