package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	rsredis "github.com/learecordshop/recordshop/dal/redis"
	"github.com/learecordshop/recordshop/dal/testenv"
	"github.com/learecordshop/recordshop/scripts/lua"
)

// TestFaultRedisReplyLost cuts the connection between the API and Redis in the one place that matters to a
// buyer: after Redis ran the reservation script, before its answer reached the API. The buyer sent one
// request and must get one order for one unit, whether or not the request carried an Idempotency-Key.
func TestFaultRedisReplyLost(t *testing.T) {
	e := newFaultEnv(t)
	e.singleRedis()
	proxy := startReplyCutter(t, strings.TrimPrefix(strings.TrimSuffix(e.stack.RedisURL, "/0"), "redis://"),
		goredis.NewScript(lua.Reserve).Hash())
	opts, err := rsredis.Options("redis://" + proxy.addr() + "/0")
	if err != nil {
		t.Fatal(err)
	}
	rdb := goredis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	e.startShopInProcess(rdb, true)
	buyers := e.createCustomers(2)
	ctx := context.Background()
	// Load the script first: on a fresh Redis the first EVALSHA answers NOSCRIPT, and cutting that answer
	// would test nothing.
	if err := e.rdb.ScriptLoad(ctx, lua.Reserve).Err(); err != nil {
		t.Fatal(err)
	}

	for i, key := range []string{"", "checkout-reply-lost"} {
		name := "without Idempotency-Key"
		if key != "" {
			name = "with Idempotency-Key"
		}
		t.Run(name, func(t *testing.T) {
			disc := e.createLaunchDisc() // a disc each: a drift left by one case must not show in the other
			before, err := e.rdb.HGet(ctx, e.keys.Disc(disc), "avail").Int64()
			if err != nil {
				t.Fatal(err)
			}
			proxy.arm()
			status, replayed, id := placeOnce(t, e.base, buyers[i], disc, key)
			if proxy.cuts() != i+1 {
				t.Fatalf("the proxy cut %d reservation answers; want %d", proxy.cuts(), i+1)
			}
			after, err := e.rdb.HGet(ctx, e.keys.Disc(disc), "avail").Int64()
			if err != nil {
				t.Fatal(err)
			}
			var orders []string
			testenv.Eventually(t, 10*time.Second, "the writer did not drain", func() (bool, string) {
				n, _ := e.rdb.HLen(ctx, e.keys.Pending(e.keys.Partition(disc))).Result()
				return n == 0, fmt.Sprint(n, " pending")
			})
			rows, err := e.pool.Query(ctx, `SELECT id::text FROM orders WHERE customer_id = $1`, buyers[i])
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var o string
				_ = rows.Scan(&o)
				orders = append(orders, o)
			}
			t.Logf("one request answered %d (replayed %v) with order %s; %d units taken; the buyer's orders in postgres: %v",
				status, replayed, id, before-after, orders)
			// A replay (200) is odd for a request sent once, but the buyer has the one order: go-redis retries the
			// script on a new connection, and with a key the retry finds the first run's answer.
			if status != http.StatusCreated && !(status == http.StatusOK && replayed) {
				t.Errorf("answer %d (replayed %v); want 201 (or 200 replaying the first run)", status, replayed)
			}
			if len(orders) != 1 || orders[0] != id {
				t.Errorf("one request made orders %v in postgres; want only %s, the one the buyer was told about", orders, id)
			}
			var stock int64
			if err := e.pool.QueryRow(ctx, `SELECT stock FROM discs WHERE id = $1`, disc).Scan(&stock); err != nil {
				t.Fatal(err)
			}
			if before-after != 1 || after != stock {
				t.Errorf("one order of 1 unit took %d units in redis (available %d); postgres stock is %d: "+
					"redis and postgres disagree once drained", before-after, after, stock)
			}
		})
	}
}

// placeOnce sends one order request, no retries; it returns the status, the replay header and the order id.
func placeOnce(t *testing.T, base string, customer, disc int64, key string) (int, bool, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/orders",
		strings.NewReader(fmt.Sprintf(`{"customer_id":%d,"disc_id":%d,"quantity":1}`, customer, disc)))
	req.Header.Set("Authorization", "Bearer "+faultStorefront)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("order: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var o struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(raw, &o)
	return resp.StatusCode, resp.Header.Get("Idempotent-Replayed") == "true", o.ID
}

// replyCutter is a TCP proxy in front of Redis. Armed, it lets the next command that names a given script
// through to Redis, which runs it, and then closes that connection instead of passing the answer back: the
// reply is lost on the way, as when a network path or a load balancer drops a connection.
type replyCutter struct {
	ln     net.Listener
	target string
	sha    []byte
	armed  atomic.Bool
	cut    atomic.Int32
	wg     sync.WaitGroup
}

func startReplyCutter(t *testing.T, target, sha string) *replyCutter {
	t.Helper()
	ln := testenv.Listen(t)
	p := &replyCutter{ln: ln, target: target, sha: []byte(sha)}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		_ = ln.Close()
		p.wg.Wait()
	})
	return p
}

func (p *replyCutter) addr() string { return p.ln.Addr().String() }
func (p *replyCutter) arm()         { p.armed.Store(true) }
func (p *replyCutter) cuts() int    { return int(p.cut.Load()) }

func (p *replyCutter) accept() {
	defer p.wg.Done()
	var conns sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	defer func() {
		mu.Lock()
		for _, c := range open {
			_ = c.Close()
		}
		mu.Unlock()
		conns.Wait()
	}()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = client.Close()
			continue
		}
		mu.Lock()
		open = append(open, client, server)
		mu.Unlock()
		var dropReply atomic.Bool
		closeBoth := func() { _ = client.Close(); _ = server.Close() }
		conns.Add(2)
		go func() { // client -> server
			defer conns.Done()
			defer closeBoth()
			buf := make([]byte, 64<<10)
			for {
				n, err := client.Read(buf)
				if n > 0 {
					if bytes.Contains(buf[:n], p.sha) && p.armed.CompareAndSwap(true, false) {
						dropReply.Store(true)
					}
					if _, werr := server.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
		go func() { // server -> client
			defer conns.Done()
			defer closeBoth()
			buf := make([]byte, 64<<10)
			for {
				n, err := server.Read(buf)
				if n > 0 {
					if dropReply.Load() {
						p.cut.Add(1)
						return // Redis ran the command; its answer goes nowhere
					}
					if _, werr := client.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}
