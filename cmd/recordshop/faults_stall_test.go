package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/learecordshop/recordshop/biz/problem"
	"github.com/learecordshop/recordshop/dal/testenv"
)

// TestFaultRedisStalled freezes the test's own redis-server (SIGSTOP): it accepts connections and bytes and
// answers nothing, as a Redis on a swapping host or behind a stuck disk does. An order must get 503 +
// Retry-After as soon as the order path's Redis timeout (RS_REDIS_ORDER_TIMEOUT, 1 s) runs out, not hang and
// not wait for go-redis' read timeout and resends, and the answer must tell the buyer to retry with the same
// Idempotency-Key: the reservation was sent and may still run when Redis wakes up (SIGCONT). The buyer's retry
// then gets exactly one order, and reconcile finds both stores in agreement.
func TestFaultRedisStalled(t *testing.T) {
	e := newFaultEnv(t)
	e.singleRedis()
	e.startServe("")
	disc := e.createLaunchDisc()
	buyers := e.createCustomers(2)
	ctx := context.Background()
	// The first order loads the script into Redis and opens the server's connections; the stalled one below
	// then goes straight to EVALSHA on a pooled connection, as in a running launch.
	if status, _, _ := placeOnce(t, e.base, buyers[0], disc, "warm-up"); status != http.StatusCreated {
		t.Fatalf("warm-up order answered %d; want 201", status)
	}

	pid := redisPID(t, e.rdb)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resume := func() {
		if err := syscall.Kill(pid, syscall.SIGCONT); err != nil && !errors.Is(err, syscall.ESRCH) {
			t.Errorf("SIGCONT redis-server: %v", err)
		}
	}
	t.Cleanup(resume) // a failed test must not leave the stack's Redis frozen for its shutdown

	const key = "checkout-stalled-1"
	body := fmt.Sprintf(`{"customer_id":%d,"disc_id":%d,"quantity":1}`, buyers[1], disc)
	// The client's 5 s is only there so a hang fails the test instead of stalling it.
	client := &http.Client{Timeout: 5 * time.Second}
	started := time.Now()
	resp, raw := postOrder(t, client, e.base, key, body)
	took := time.Since(started)
	var p struct {
		Type   string `json:"type"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	_ = json.Unmarshal(raw, &p)
	retryAfter, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != http.StatusServiceUnavailable || p.Type != problem.TypePrefix+"unavailable" || retryAfter < 1 ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), problem.ContentType) {
		t.Fatalf("an order against a stalled redis answered %d, Retry-After %q, %s %s; want 503 problem+json of type %sunavailable with Retry-After",
			resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Content-Type"), raw, problem.TypePrefix)
	}
	if !strings.Contains(p.Detail, "same Idempotency-Key") {
		t.Errorf("the 503's detail %q does not tell the buyer to retry with the same Idempotency-Key; "+
			"the reservation may have happened", p.Detail)
	}

	resume()
	// The buyer retries after Retry-After with the same key: one order, whether the frozen reservation ran
	// when Redis woke up (200, replayed) or not (201).
	var status int
	var replayed bool
	var id string
	testenv.Eventually(t, 10*time.Second, "the retry never got a definitive answer", func() (bool, string) {
		status, replayed, id = placeOnce(t, e.base, buyers[1], disc, key)
		return status < 500, fmt.Sprint(status)
	})
	if !(status == http.StatusCreated && !replayed) && !(status == http.StatusOK && replayed) || id == "" {
		t.Fatalf("the retry with the same key answered %d (replayed %v, order %q); want 201, or 200 replaying the stalled one", status, replayed, id)
	}

	p0 := e.keys.Partition(disc)
	testenv.Eventually(t, 20*time.Second, "the writer did not drain", func() (bool, string) {
		n, err := e.rdb.HLen(ctx, e.keys.Pending(p0)).Result()
		return err == nil && n == 0, fmt.Sprint(n, " pending ", err)
	})
	var orders []string
	rows, err := e.pool.Query(ctx, `SELECT id::text FROM orders WHERE customer_id = $1`, buyers[1])
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var o string
		if err := rows.Scan(&o); err != nil {
			t.Fatal(err)
		}
		orders = append(orders, o)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(orders) != 1 || orders[0] != id {
		t.Errorf("the buyer's orders in postgres: %v; want only %s, the one the retry answered", orders, id)
	}
	var stock int64
	if err := e.pool.QueryRow(ctx, `SELECT stock FROM discs WHERE id = $1`, disc).Scan(&stock); err != nil {
		t.Fatal(err)
	}
	avail, err := e.rdb.HGet(ctx, e.keys.Disc(disc), "avail").Int64()
	if err != nil {
		t.Fatal(err)
	}
	if stock != discStock-2 || avail != stock {
		t.Errorf("postgres stock %d, redis available %d; want both %d (two orders of one unit)", stock, avail, discStock-2)
	}

	env := map[string]string{}
	for _, kv := range e.env() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"reconcile"}, func(k string) string { return env[k] }, &out, &errOut); err != nil {
		t.Errorf("reconcile after the stall: %v\n%s%s", err, out.String(), errOut.String())
	}
	t.Logf("a stalled redis answered the order with 503 in %v (%s); after SIGCONT the retry got %d (replayed %v): one order",
		took.Round(time.Millisecond), p.Detail, status, replayed)
}

// postOrder sends one order request and returns the response (body read and closed) and its body.
func postOrder(t *testing.T, client *http.Client, base, key, body string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/orders", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+faultStorefront)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("order: %v", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("order: read the answer: %v", err)
	}
	return resp, raw
}

// redisPID asks Redis for its process id.
func redisPID(t *testing.T, rdb goredis.UniversalClient) int {
	t.Helper()
	info, err := rdb.Info(context.Background(), "server").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			if pid, err := strconv.Atoi(v); err == nil && pid > 0 {
				return pid
			}
		}
	}
	t.Fatalf("no process_id in INFO server:\n%s", info)
	return 0
}
