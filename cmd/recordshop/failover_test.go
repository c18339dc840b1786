package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	rsredis "github.com/learecordshop/recordshop/dal/redis"
	"github.com/learecordshop/recordshop/dal/testenv"
)

// TestFailoverPrimaryKilled kills (SIGKILL) the Redis primary that holds the launch disc in the middle of a
// launch. A replica is promoted (a cluster's own failover in the cluster pass, Sentinel's in the single-Redis
// pass), the killed node comes back as the new primary's replica, as an orchestrator would restart it, and the
// buyers retry with their Idempotency-Keys until every request has its answer.
//
// With RS_REDIS_WAIT_REPLICAS=1 nothing answered 201 or 200 may be lost: every such order is in Postgres
// exactly once, no unit is sold twice, Redis and Postgres agree, and reconcile exits 0. With 0 the test
// measures how many confirmed orders the failover lost, the figure the README quotes.
func TestFailoverPrimaryKilled(t *testing.T) {
	kind := rsredis.KindSentinel
	if testenv.ClusterPass() {
		kind = rsredis.KindCluster
	}
	t.Run("wait=1", func(t *testing.T) {
		f := failover(t, kind, 1)
		f.e.verify(f.l, f.disc)
		if code, out := f.e.reconcile(nil); code != 0 {
			t.Errorf("reconcile after the failover: exit %d\n%s", code, out)
		}
		f.log(0)
	})
	t.Run("wait=0", func(t *testing.T) {
		f := failover(t, kind, 0)
		f.log(f.e.lostOrders(f.l, f.disc))
	})
}

// failedOver is a launch through which the primary of its disc was killed and replaced.
type failedOver struct {
	t         *testing.T
	e         *faultEnv
	l         *launch
	disc      int64
	kind      string
	wait      int
	before    int64         // orders confirmed when the primary was killed
	lag       int64         // bytes the primary had not yet heard its replica acknowledge, just before the kill
	promotion time.Duration // from the kill until the replica served the slot as primary
}

func failover(t *testing.T, kind string, wait int) failedOver {
	t.Helper()
	e := newFaultEnvOn(t, kind)
	e.startServe("", fmt.Sprintf("RS_REDIS_WAIT_REPLICAS=%d", wait))
	disc := e.createLaunchDisc()
	buyers := e.createCustomers(launchBuyers)
	l := startLaunch(t, e.base, disc, buyers, launchRate, 8*time.Second)
	l.waitAnswered(300)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	key := e.keys.Disc(disc)
	old := e.primaryOf(ctx, key)
	before := l.confirms.Load()
	lag := replicaLag(t, old)
	e.killNode(old)
	killed := time.Now()
	promoted := e.waitPromoted(ctx, key, old)
	promotion := time.Since(killed)
	e.restartNode(ctx, old)
	t.Logf("%s: primary %s killed after %d confirmed orders, %d bytes not yet acknowledged by its replica; %s promoted in %v; the old primary is back as its replica after %v",
		kind, old, before, lag, promoted, promotion.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
	l.wait()
	return failedOver{t: t, e: e, l: l, disc: disc, kind: kind, wait: wait, before: before, lag: lag, promotion: promotion}
}

// log states the outcome in one line, the line the README's durability figures come from.
func (f failedOver) log(lost int) {
	f.t.Logf("FAILOVER %s RS_REDIS_WAIT_REPLICAS=%d: %d orders confirmed (%d before the kill), %d lost; %d bytes unacknowledged at the kill; promotion took %v",
		f.kind, f.wait, len(f.l.confirmedIDs()), f.before, lost, f.lag, f.promotion.Round(time.Millisecond))
}

// primaryOf is the address of the primary that holds key now.
func (e *faultEnv) primaryOf(ctx context.Context, key string) string {
	e.t.Helper()
	var addr string
	var err error
	switch {
	case e.cluster != nil:
		addr, err = e.cluster.PrimaryFor(ctx, key)
	case e.sentinel != nil:
		addr, err = e.sentinel.Primary(ctx)
	default:
		e.t.Fatal("a failover needs replicas: a cluster or a Sentinel-managed primary")
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return addr
}

// killNode kills one Redis node as a crash would (SIGKILL).
func (e *faultEnv) killNode(addr string) {
	e.t.Helper()
	var err error
	if e.cluster != nil {
		err = e.cluster.Kill(addr)
	} else {
		err = e.sentinel.Kill(addr)
	}
	if err != nil {
		e.t.Fatal(err)
	}
}

// waitPromoted waits until a node other than old serves key as primary, and returns it.
func (e *faultEnv) waitPromoted(ctx context.Context, key, old string) string {
	e.t.Helper()
	var addr string
	var err error
	if e.cluster != nil {
		addr, err = e.cluster.WaitPrimaryChanged(ctx, key, old)
	} else {
		addr, err = e.sentinel.WaitFailover(ctx, old)
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return addr
}

// restartNode starts a killed node again and waits until it replicates the new primary.
func (e *faultEnv) restartNode(ctx context.Context, addr string) {
	e.t.Helper()
	var err error
	if e.cluster != nil {
		if err = e.cluster.Start(ctx, addr); err == nil {
			err = e.cluster.WaitHealthy(ctx)
		}
	} else if err = e.sentinel.Start(ctx, addr); err == nil {
		err = e.sentinel.WaitHealthy(ctx)
	}
	if err != nil {
		e.t.Fatal(err)
	}
}

// lostOrders waits until the writer has drained the disc's partition and returns how many orders a buyer was
// told were confirmed that are not in Postgres. Whatever was lost, Postgres holds no order nobody was told
// about, and no unit is sold twice.
func (e *faultEnv) lostOrders(l *launch, disc int64) int {
	e.t.Helper()
	ctx := context.Background()
	p := e.keys.Partition(disc)
	testenv.Eventually(e.t, 45*time.Second, "the writer did not drain", func() (bool, string) {
		pending, err1 := e.rdb.HLen(ctx, e.keys.Pending(p)).Result()
		stream, err2 := e.rdb.XLen(ctx, e.keys.Stream(p)).Result()
		return err1 == nil && err2 == nil && pending == 0 && stream == 0, fmt.Sprintf("%d pending, %d in the stream (%v %v)", pending, stream, err1, err2)
	})
	rows, err := e.pool.Query(ctx, `SELECT id::text FROM orders WHERE disc_id = $1`, disc)
	if err != nil {
		e.t.Fatal(err)
	}
	inPG := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			e.t.Fatal(err)
		}
		inPG[id] = true
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	confirmed := l.confirmedIDs()
	lost := 0
	var some []string
	for id := range confirmed {
		if !inPG[id] {
			lost++
			some = append(some, id)
		}
	}
	for id := range inPG {
		if !confirmed[id] {
			e.t.Errorf("order %s is in postgres but no buyer was told about it", id)
		}
	}
	var stock int64
	if err := e.pool.QueryRow(ctx, `SELECT stock FROM discs WHERE id = $1`, disc).Scan(&stock); err != nil {
		e.t.Fatal(err)
	}
	if want := int64(discStock - len(inPG)); stock != want {
		e.t.Errorf("postgres stock %d; want %d: %d units, %d orders of one unit", stock, want, discStock, len(inPG))
	}
	if lost > 0 {
		e.t.Logf("confirmed but lost with the primary: %s", strings.Join(some[:min(len(some), 5)], ", "))
	}
	return lost
}

// replicaLag is how many bytes of its replication stream the primary at addr has not heard its replicas
// acknowledge (the most of any replica). It bounds what a replica promoted now could lack: a replica acknowledges
// once a second by itself, and at once when WAIT asks, so without the wait the figure runs up to a second of
// writes even when the replica has them all.
func replicaLag(t *testing.T, addr string) int64 {
	t.Helper()
	node := goredis.NewClient(&goredis.Options{Addr: addr})
	defer node.Close()
	info, err := node.Info(context.Background(), "replication").Result()
	if err != nil {
		t.Fatal(err)
	}
	var primary, lag int64
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "master_repl_offset:"); ok {
			primary, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	for _, line := range strings.Split(info, "\r\n") {
		if !strings.HasPrefix(line, "slave") || !strings.Contains(line, "offset=") {
			continue
		}
		for _, field := range strings.Split(line, ",") {
			if v, ok := strings.CutPrefix(field, "offset="); ok {
				if off, err := strconv.ParseInt(v, 10, 64); err == nil {
					lag = max(lag, primary-off)
				}
			}
		}
	}
	return lag
}
