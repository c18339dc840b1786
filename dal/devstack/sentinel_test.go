package devstack

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// A key written with WAIT 1 survives the death of the primary: the sentinels promote the replica, the failover
// client follows them, and the old primary comes back as a replica of the new one.
func TestSentinelFailover(t *testing.T) {
	needRedis(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	began := time.Now()
	// down-after 3 s, not the default 1 s: this test runs beside others that start Redis fleets on two cores, and
	// a new primary that stalls a second there was failed over back to the old one as it returned, which made
	// the test's "comes back as a replica of the new primary" fail on a correct Sentinel.
	s, err := StartSentinel(ctx, SentinelOptions{Dir: t.TempDir(), Logf: t.Logf, DownAfter: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	t.Logf("StartSentinel took %v", time.Since(began).Round(time.Millisecond))
	if s.Master != "recordshop" || len(s.SentinelAddrs) != 3 || len(s.Addrs) != 2 {
		t.Fatalf("Master %q, SentinelAddrs %q, Addrs %q; want recordshop, 3 sentinels, 2 data nodes",
			s.Master, s.SentinelAddrs, s.Addrs)
	}

	fc := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: s.Master, SentinelAddrs: s.SentinelAddrs})
	defer fc.Close()
	const key, value = "devstack:sentinel:failover", "v1"
	// WAIT counts the replicas that acknowledged the writes of its own connection.
	conn := fc.Conn()
	if err := conn.Set(ctx, key, value, 0).Err(); err != nil {
		t.Fatalf("SET %s: %v", key, err)
	}
	if acked, err := conn.Do(ctx, "WAIT", 1, 5000).Int(); err != nil || acked < 1 {
		t.Fatalf("WAIT 1 = %d, %v; want the replica to acknowledge", acked, err)
	}
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}

	old, err := s.Primary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if old != s.Addrs[0] {
		t.Fatalf("Primary = %s, want %s, the node started as primary", old, s.Addrs[0])
	}
	if err := s.Kill(old); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	primary, err := s.WaitFailover(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("failover %s -> %s took %v", old, primary, time.Since(killed).Round(time.Millisecond))
	if primary == old || !slices.Contains(s.Addrs, primary) {
		t.Fatalf("WaitFailover = %s, want the other of %q than %s", primary, s.Addrs, old)
	}
	if now, err := s.Primary(ctx); err != nil || now != primary {
		t.Errorf("Primary after the failover = %s, %v; want %s", now, err, primary)
	}
	attempts := waitFor(ctx, t, "read the key through the failover client after the failover", func(ctx context.Context) error {
		got, err := fc.Get(ctx, key).Result()
		if err == nil && got != value {
			t.Fatalf("GET %s after the failover = %q, want %q", key, got, value)
		}
		return err
	})
	t.Logf("the failover client read the key after %d attempt(s), %v after the kill", attempts,
		time.Since(killed).Round(time.Millisecond))

	began = time.Now()
	if err := s.Start(ctx, old); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx, old); err == nil {
		t.Error("Start of a running node = nil, want an error")
	}
	if err := s.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s rejoined as a replica in %v", old, time.Since(began).Round(time.Millisecond))
	info, err := replicationInfo(ctx, s.clients[old])
	if err != nil {
		t.Fatal(err)
	}
	if got := info["role"] + " of " + info["master_host"] + ":" + info["master_port"]; got != "slave of "+primary {
		t.Errorf("%s is %s after its return, want slave of %s", old, got, primary)
	}
	if got, err := fc.Get(ctx, key).Result(); err != nil || got != value {
		t.Errorf("GET %s after the old primary's return = %q, %v; want %q", key, got, err, value)
	}

	// A sentinel started again has its id, peers and replicas in its rewritten config file.
	sentinel := s.SentinelAddrs[0]
	if err := s.Kill(sentinel); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx, sentinel); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
	if now, err := s.Primary(ctx); err != nil || now != primary {
		t.Errorf("Primary after a sentinel's restart = %s, %v; want %s", now, err, primary)
	}

	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after Stop, stat %s = %v, want it gone", s.dir, err)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop = %v, want nil", err)
	}
	if err := s.Kill(old); err == nil {
		t.Error("Kill after Stop = nil, want an error")
	}
}
