// Package testenv gives integration tests the real Postgres and Redis they run against. A package opts in with
//
//	func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
//
// Main starts a devstack for the test binary, or uses RS_TEST_PG_URL and RS_TEST_REDIS_URL when both are set.
// With RS_TEST_REDIS_TOPOLOGY=cluster the tests' Redis is a devstack Redis Cluster of 3 primaries and 3
// replicas instead, and the shop under test waits for one replica on every reservation (RedisWait): the same
// tests then prove the same promises on a cluster. Each test asks for its own migrated database (PG, PGURL)
// and its own Redis key prefix (Redis), so tests never see each other's data. Without servers the tests skip, except under CI=true, where Main fails instead:
// a CI run that silently skipped its integration tests would prove nothing. Eventually is the one way a test
// waits for something to happen, and Listen gives a test a port of its own.
//
// It owns the servers' lifetime for one test binary and each test's share of them. It must not reach above dal:
// it hands out stores, never services or an HTTP server (a test that needs the shop running starts it through
// biz/api's lifecycle), and it is imported by _test files only, never by the binary.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/learecordshop/recordshop/dal/devstack"
	"github.com/learecordshop/recordshop/dal/pg"
	rsredis "github.com/learecordshop/recordshop/dal/redis"
)

const (
	startTimeout = 2 * time.Minute  // servers may first have to be installed
	adminTimeout = 30 * time.Second // one CREATE or DROP DATABASE
)

// env is what Main found for this test binary. It has to live in a package variable: the helpers are called with
// nothing but a testing.TB. It holds URLs, never an open client; every admin statement opens its own connection,
// which also keeps it working across Stack().RestartPostgres.
type env struct {
	pgURL   string
	redis   rsredis.Topology
	stack   *devstack.Stack   // nil when the servers came from RS_TEST_* URLs
	cluster *devstack.Cluster // the tests' Redis under RS_TEST_REDIS_TOPOLOGY=cluster
	ci      bool
	skip    string // why the servers are unavailable; tests skip with it

	mu       sync.Mutex // serialises CREATE DATABASE: Postgres refuses to copy a template that is in use
	template string     // migrated template database, made on first use
	tplErr   error
}

var current *env

// Main sets up the servers for the test binary, runs the tests and tears everything down; its result is the
// exit code for os.Exit. Under CI=true a server that cannot be started or reached fails the run (code 1) with the
// reason on stderr; elsewhere the reason is kept and the tests that need the servers skip with it.
func Main(m *testing.M) int {
	if !flag.Parsed() {
		flag.Parse() // testing.Verbose needs the flags, which m.Run would parse only later
	}
	e := &env{ci: isCI()}
	current = e

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	err := e.setUp(ctx)
	cancel()
	if err != nil {
		if e.ci {
			fmt.Fprintf(os.Stderr, "\n"+
				"!!! testenv: Postgres/Redis are unavailable and CI=true, so the tests FAIL instead of skipping.\n"+
				"!!! %v\n\n", err)
			return 1
		}
		e.skip = err.Error()
		fmt.Fprintf(os.Stderr, "testenv: integration tests will skip: %v\n", err)
	}

	code := m.Run()

	if err := e.tearDown(); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: tear down: %v\n", err)
	}
	return code
}

func (e *env) setUp(ctx context.Context) error {
	pgURL, redisURL := os.Getenv("RS_TEST_PG_URL"), os.Getenv("RS_TEST_REDIS_URL")
	var logf func(string, ...any)
	if testing.Verbose() {
		logf = func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	}
	switch {
	case ClusterPass():
		stack, err := devstack.Start(ctx, devstack.Options{Logf: logf}) // for its Postgres
		if err != nil {
			return fmt.Errorf("testenv.setup: %w", err)
		}
		e.stack, e.pgURL = stack, stack.PGURL
		if e.cluster, err = devstack.StartCluster(ctx, devstack.ClusterOptions{AOF: true, Logf: logf}); err != nil {
			return errors.Join(fmt.Errorf("testenv.setup: %w", err), e.stopStack())
		}
		e.redis = rsredis.Topology{Cluster: e.cluster.Addrs}
	case pgURL != "" && redisURL != "":
		e.pgURL, e.redis = pgURL, rsredis.Topology{URL: redisURL}
	case pgURL != "" || redisURL != "":
		return errors.New("testenv.setup: set both RS_TEST_PG_URL and RS_TEST_REDIS_URL, or neither")
	default:
		stack, err := devstack.Start(ctx, devstack.Options{RedisAOF: true, Logf: logf})
		if err != nil {
			return fmt.Errorf("testenv.setup: %w", err)
		}
		e.stack, e.pgURL, e.redis = stack, stack.PGURL, rsredis.Topology{URL: stack.RedisURL}
	}
	// Prove both servers answer now, so that a bad RS_TEST_* URL is one clear message, not a failure per test.
	conn, err := pgx.Connect(ctx, e.pgURL)
	if err == nil {
		err = conn.Close(ctx)
	}
	if err != nil {
		return errors.Join(fmt.Errorf("testenv.setup: postgres %s: %w", redact(e.pgURL), err), e.stopStack())
	}
	client, err := rsredis.Connect(ctx, e.redis)
	if err == nil {
		client.Close()
	}
	if err != nil {
		return errors.Join(fmt.Errorf("testenv.setup: redis: %w", err), e.stopStack())
	}
	return nil
}

func (e *env) tearDown() error {
	var errs []error
	e.mu.Lock()
	if e.template != "" {
		if err := e.dropDatabase(e.template); err != nil {
			errs = append(errs, err)
		}
		e.template = ""
	}
	e.mu.Unlock()
	errs = append(errs, e.stopStack())
	return errors.Join(errs...)
}

func (e *env) stopStack() error {
	var errs []error
	if e.cluster != nil {
		errs = append(errs, e.cluster.Stop())
	}
	if e.stack != nil {
		errs = append(errs, e.stack.Stop())
	}
	return errors.Join(errs...)
}

// ClusterPass reports whether this test binary runs on Redis Cluster (RS_TEST_REDIS_TOPOLOGY=cluster).
func ClusterPass() bool { return os.Getenv("RS_TEST_REDIS_TOPOLOGY") == "cluster" }

// RedisTopology is the Redis the tests run on, for code that connects by itself (a child process's
// RS_REDIS_* variables, NewRedisClient).
func RedisTopology(t testing.TB) rsredis.Topology {
	t.Helper()
	return ready(t).redis
}

// RedisWait is the replication wait a shop under test uses: one replica on the cluster, none on one server.
func RedisWait() rsredis.Replication {
	if ClusterPass() {
		return rsredis.Replication{Replicas: 1}
	}
	return rsredis.Replication{}
}

// NewRedisClient returns a client of the tests' Redis of its own, which the test may close; t.Cleanup closes
// it otherwise. Keys still go under a prefix from Redis.
func NewRedisClient(t testing.TB) redis.UniversalClient {
	t.Helper()
	client, err := rsredis.NewClient(ready(t).redis)
	if err != nil {
		t.Fatalf("testenv.new_redis_client: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	return client
}

// ready returns the env, or ends the test: skipped when the servers are unavailable, failed when Main never ran.
func ready(t testing.TB) *env {
	t.Helper()
	e := current
	if e == nil {
		t.Fatal("testenv: no TestMain; add func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }")
	}
	if e.skip != "" {
		t.Skipf("testenv: Postgres/Redis unavailable: %s", e.skip)
	}
	return e
}

// PG returns a pool on a fresh, fully migrated database that belongs to this test alone; t.Cleanup closes the
// pool and drops the database.
func PG(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return poolOn(t, "testenv.pg", PGURL(t))
}

// PGURL creates a fresh, fully migrated database like PG and returns its URL, for code that takes a URL; t.Cleanup
// drops the database, disconnecting whoever still uses it.
func PGURL(t testing.TB) string {
	t.Helper()
	e := ready(t)
	return e.databaseURL(t, "testenv.pgurl", e.createDatabase)
}

// PGEmpty returns a pool on a new database with no schema at all, for tests of the migrations themselves
// (migrating an existing shop's data); t.Cleanup closes the pool and drops the database.
func PGEmpty(t testing.TB) *pgxpool.Pool {
	t.Helper()
	e := ready(t)
	url := e.databaseURL(t, "testenv.pg_empty", func() (string, error) {
		name := "rs_e_" + randomHex()
		return name, e.admin(func(ctx context.Context, conn *pgx.Conn) error {
			_, err := conn.Exec(ctx, "CREATE DATABASE "+ident(name))
			return err
		})
	})
	return poolOn(t, "testenv.pg_empty", url)
}

// databaseURL makes a database with create, has t.Cleanup drop it, and returns its URL.
func (e *env) databaseURL(t testing.TB, op string, create func() (string, error)) string {
	t.Helper()
	name, err := create()
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	t.Cleanup(func() {
		if err := e.dropDatabase(name); err != nil {
			t.Errorf("%s: cleanup: %v", op, err)
		}
	})
	dbURL, err := withDatabase(e.pgURL, name)
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	return dbURL
}

// poolOn connects a pool to dbURL that t.Cleanup closes, before the database is dropped (cleanups run
// last-in, first-out).
func poolOn(t testing.TB, op, dbURL string) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	pool, err := pg.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// Redis returns a client and a key prefix unique to this test ("t<random>:"). The test must put every key under
// the prefix; t.Cleanup deletes those keys and closes the client.
func Redis(t testing.TB) (redis.UniversalClient, string) {
	t.Helper()
	e := ready(t)
	client, err := rsredis.NewClient(e.redis)
	if err != nil {
		t.Fatalf("testenv.redis: %v", err)
	}
	prefix := "t" + randomHex() + ":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
		defer cancel()
		if err := DeleteKeys(ctx, client, prefix); err != nil {
			t.Errorf("testenv.redis: cleanup: %v", err)
		}
		client.Close()
	})
	return client, prefix
}

// Stack returns the devstack behind this test binary, for fault tests that restart a server. It skips the test
// when the servers came from RS_TEST_* URLs (there is nothing to restart), and fails it instead under CI=true.
// In the cluster pass the stack's Redis is not the tests' Redis, so a test of a one-server fault skips there:
// the single-Redis pass of the same run has it.
func Stack(t testing.TB) *devstack.Stack {
	t.Helper()
	e := ready(t)
	if e.cluster != nil {
		t.Skip("testenv.stack: a fault of one Redis server; the cluster pass runs the failover tests instead")
	}
	if e.stack == nil {
		const msg = "testenv.stack: servers come from RS_TEST_PG_URL/RS_TEST_REDIS_URL; fault tests need the devstack"
		if e.ci {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return e.stack
}

// createDatabase copies the migrated template into a new database and returns its name. The template is made
// and migrated once per process, which is much faster than migrating every test's database.
func (e *env) createDatabase() (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.template == "" && e.tplErr == nil {
		e.template, e.tplErr = e.createTemplate()
	}
	if e.tplErr != nil {
		return "", e.tplErr
	}
	name := "rs_t_" + randomHex()
	err := e.admin(func(ctx context.Context, conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, "CREATE DATABASE "+ident(name)+" TEMPLATE "+ident(e.template))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return name, nil
}

func (e *env) createTemplate() (string, error) {
	name := "rs_tpl_" + randomHex()
	err := e.admin(func(ctx context.Context, conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, "CREATE DATABASE "+ident(name))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("create template %s: %w", name, err)
	}
	if err := migrate(e.pgURL, name); err != nil {
		return "", errors.Join(fmt.Errorf("create template %s: %w", name, err), e.dropDatabase(name))
	}
	return name, nil
}

// migrate runs the migrations in database name and closes its pool again: a template must have no connections.
func migrate(baseURL, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dbURL, err := withDatabase(baseURL, name)
	if err != nil {
		return err
	}
	pool, err := pg.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	_, err = pg.Migrate(ctx, pool)
	return err
}

func (e *env) dropDatabase(name string) error {
	err := e.admin(func(ctx context.Context, conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)")
		return err
	})
	if err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// admin runs fn on a new connection to the database of the configured URL. It retries while Postgres reports the
// template as in use (55006), which a backend that is still exiting can cause for a moment.
func (e *env) admin(fn func(context.Context, *pgx.Conn) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, e.pgURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for {
		err := fn(ctx, conn)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "55006" {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Keys lists every key under prefix: on one server, or on every primary of a cluster (SCAN sees one node).
func Keys(ctx context.Context, client redis.UniversalClient, prefix string) ([]string, error) {
	var mu sync.Mutex
	var keys []string
	err := eachPrimary(ctx, client, func(ctx context.Context, node redis.UniversalClient) error {
		iter := node.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			keys = append(keys, iter.Val())
			mu.Unlock()
		}
		if err := iter.Err(); err != nil {
			return fmt.Errorf("scan %s*: %w", prefix, err)
		}
		return nil
	})
	return keys, err
}

// DeleteKeys unlinks every key under prefix, as Keys finds them: what a Redis that lost its data looks like
// to a shop whose keys are under prefix.
func DeleteKeys(ctx context.Context, client redis.UniversalClient, prefix string) error {
	return eachPrimary(ctx, client, func(ctx context.Context, node redis.UniversalClient) error {
		iter := node.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var batch []string
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			// The keys of one page may lie in different slots of the node: one UNLINK each, in one pipeline.
			_, err := node.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, k := range batch {
					p.Unlink(ctx, k)
				}
				return nil
			})
			batch = batch[:0]
			return err
		}
		for iter.Next(ctx) {
			if batch = append(batch, iter.Val()); len(batch) == 1000 {
				if err := flush(); err != nil {
					return fmt.Errorf("unlink %s*: %w", prefix, err)
				}
			}
		}
		if err := iter.Err(); err != nil {
			return fmt.Errorf("scan %s*: %w", prefix, err)
		}
		if err := flush(); err != nil {
			return fmt.Errorf("unlink %s*: %w", prefix, err)
		}
		return nil
	})
}

// eachPrimary runs fn on the one server, or on every primary of a cluster.
func eachPrimary(ctx context.Context, client redis.UniversalClient, fn func(context.Context, redis.UniversalClient) error) error {
	if c, ok := client.(*redis.ClusterClient); ok {
		return c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error { return fn(ctx, node) })
	}
	return fn(ctx, client)
}

// withDatabase returns the Postgres URL (or keyword/value DSN) with its database replaced by name.
func withDatabase(base, name string) (string, error) {
	if !strings.HasPrefix(base, "postgres://") && !strings.HasPrefix(base, "postgresql://") {
		return base + " dbname=" + name, nil // in a keyword/value DSN the last dbname wins
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("postgres url %s: %w", redact(base), err)
	}
	u.Path, u.RawPath = "/"+name, ""
	return u.String(), nil
}

// redact hides the password of a URL for error messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return "(unparsable url)"
	}
	return u.Redacted()
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

func randomHex() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

func isCI() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI"))
	return ci
}
