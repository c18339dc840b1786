package devstack

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// needRedis skips the test when redis-server (and, with withCli, redis-cli) cannot be found, except under
// CI=true: there the test goes on, so that the start-up installs them or fails saying what to install, because a
// CI run that silently skipped would prove nothing.
func needRedis(t *testing.T, withCli bool) {
	t.Helper()
	var missing []string
	if findRedis() == "" {
		missing = append(missing, "redis-server")
	}
	if withCli && findRedisCli() == "" {
		missing = append(missing, "redis-cli (redis-tools)")
	}
	if len(missing) > 0 && os.Getenv("CI") != "true" {
		t.Skipf("%s not found; install with: sudo apt-get install -y redis-server", strings.Join(missing, " and "))
	}
}

// waitFor polls what until it returns nil or ctx ends, and returns the number of attempts it took.
func waitFor(ctx context.Context, t *testing.T, what string, f func(context.Context) error) int {
	t.Helper()
	for attempts := 1; ; attempts++ {
		err := f(ctx)
		if err == nil {
			return attempts
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: gave up after %d attempts: %v (last error: %v)", what, attempts, ctx.Err(), err)
		case <-time.After(pollEvery):
		}
	}
}

// A key written with WAIT 1 survives the death of its primary: a replica takes the slot over, the cluster client
// finds it, and the old primary comes back as a replica.
func TestClusterFailover(t *testing.T) {
	needRedis(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	began := time.Now()
	c, err := StartCluster(ctx, ClusterOptions{Dir: t.TempDir(), Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	t.Logf("StartCluster took %v", time.Since(began).Round(time.Millisecond))
	if len(c.Addrs) != 6 {
		t.Fatalf("Addrs = %q, want 6 nodes", c.Addrs)
	}

	// go-redis reloads its slot map on MOVED and ASK, and otherwise only every ClusterStateReloadInterval (60s by
	// default): a dead primary's connection errors alone do not make it look for the new one.
	rc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs, ClusterStateReloadInterval: time.Second})
	defer rc.Close()
	const key, value = "devstack:cluster:failover", "v1"
	// WAIT counts the replicas that acknowledged the writes of its own connection; Watch gives us one connection
	// to the key's primary, chosen by the cluster client.
	err = rc.Watch(ctx, func(tx *redis.Tx) error {
		if err := tx.Set(ctx, key, value, 0).Err(); err != nil {
			return err
		}
		acked, err := tx.Do(ctx, "WAIT", 1, 5000).Int()
		if err != nil {
			return err
		}
		if acked < 1 {
			return errors.New("WAIT 1: no replica acknowledged the write")
		}
		return nil
	}, key)
	if err != nil {
		t.Fatalf("SET %s with WAIT 1: %v", key, err)
	}
	if got, err := rc.Get(ctx, key).Result(); err != nil || got != value {
		t.Fatalf("GET %s = %q, %v; want %q", key, got, err, value)
	}

	old, err := c.PrimaryFor(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(c.Addrs, old) {
		t.Fatalf("PrimaryFor = %s, not one of %q", old, c.Addrs)
	}
	if err := c.Kill(old); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	primary, err := c.WaitPrimaryChanged(ctx, key, old)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("failover %s -> %s took %v", old, primary, time.Since(killed).Round(time.Millisecond))
	if primary == old || !slices.Contains(c.Addrs, primary) {
		t.Fatalf("WaitPrimaryChanged = %s, want another of %q than %s", primary, c.Addrs, old)
	}
	if now, err := c.PrimaryFor(ctx, key); err != nil || now != primary {
		t.Errorf("PrimaryFor after the failover = %s, %v; want %s", now, err, primary)
	}
	if err := c.healthy(ctx); err == nil {
		t.Errorf("the cluster is healthy with %s down and %s without a replica, want a complaint", old, primary)
	} else {
		t.Logf("not healthy with %s down, as expected: %v", old, err)
	}
	// The cluster client still has the dead primary in its slot map until an error makes it reload.
	attempts := waitFor(ctx, t, "read the key through the cluster client after the failover", func(ctx context.Context) error {
		got, err := rc.Get(ctx, key).Result()
		if err == nil && got != value {
			t.Fatalf("GET %s after the failover = %q, want %q", key, got, value)
		}
		return err
	})
	t.Logf("the cluster client read the key after %d attempt(s), %v after the kill", attempts,
		time.Since(killed).Round(time.Millisecond))

	began = time.Now()
	if err := c.Start(ctx, old); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx, old); err == nil {
		t.Error("Start of a running node = nil, want an error")
	}
	if err := c.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s rejoined in %v", old, time.Since(began).Round(time.Millisecond))
	info, err := replicationInfo(ctx, c.clients[old])
	if err != nil {
		t.Fatal(err)
	}
	if got := info["role"] + " of " + info["master_host"] + ":" + info["master_port"]; got != "slave of "+primary {
		t.Errorf("%s is %s after its return, want slave of %s", old, got, primary)
	}
	if got, err := rc.Get(ctx, key).Result(); err != nil || got != value {
		t.Errorf("GET %s after the old primary's return = %q, %v; want %q", key, got, err, value)
	}

	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after Stop, stat %s = %v, want it gone", c.dir, err)
	}
	if err := c.Stop(); err != nil {
		t.Errorf("second Stop = %v, want nil", err)
	}
	if err := c.Kill(old); err == nil {
		t.Error("Kill after Stop = nil, want an error")
	}
}

// With AOF, Restart (all six nodes killed at once, as a power cut would) brings the cluster back in the same shape
// and with the keys it had.
func TestClusterRestartKeepsAOFData(t *testing.T) {
	needRedis(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	c, err := StartCluster(ctx, ClusterOptions{Dir: t.TempDir(), AOF: true, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	rc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs, ClusterStateReloadInterval: time.Second})
	defer rc.Close()
	// The keys land on all three primaries, and are written right before Restart: Restart must not kill a node
	// that has acknowledged a write it has not yet written to its AOF.
	keys := []string{"devstack:restart:a", "devstack:restart:b", "devstack:restart:c", "devstack:restart:d"}
	for _, k := range keys {
		if err := rc.Set(ctx, k, k, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
	}
	before := make(map[string]string)
	for _, k := range keys {
		if before[k], err = c.PrimaryFor(ctx, k); err != nil {
			t.Fatal(err)
		}
	}

	began := time.Now()
	if err := c.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("Restart took %v", time.Since(began).Round(time.Millisecond))
	for _, k := range keys {
		if p, err := c.PrimaryFor(ctx, k); err != nil || p != before[k] {
			t.Errorf("PrimaryFor(%s) after Restart = %s, %v; want %s as before", k, p, err, before[k])
		}
		waitFor(ctx, t, "read "+k+" after Restart", func(ctx context.Context) error {
			got, err := rc.Get(ctx, k).Result()
			if err == nil && got != k {
				t.Fatalf("GET %s after Restart = %q, want %q", k, got, k)
			}
			return err
		})
	}
}
