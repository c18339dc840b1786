// Command ceiling is the bench's bare ceiling: a Hertz server whose only handler decodes an order body and runs
// a reservation script once (one EVALSHA) on Redis. No auth, no validation beyond the JSON, no customer lookup,
// no metrics, no logging: what is left is the HTTP stack, one Redis round trip and the script itself.
//
// The ceiling is frozen at commit 12f9ccab91500f42ba7ffd4769d2761f140945a2 ("Postgres mode: one round trip per
// order, the row lock held only while the server runs"). reserve_frozen.lua is scripts/lua/reserve.lua of that
// commit, byte for byte, and the handler passes exactly the keys and arguments dal/redis' Gate.Reserve of that
// commit passes for an order without an Idempotency-Key. Per order it:
//
//   - decodes {"customer_id","disc_id","quantity"} and makes a UUIDv7 order id;
//   - runs EVALSHA of the frozen script (loaded once with SCRIPT LOAD; loaded again after a NOSCRIPT) with
//     KEYS disc hash, bought hash, idempotency key "idem:<customer>:~<order id>", inactive set, order stream,
//     pending hash (all in the disc's partition, disc id mod 16, namespace "ceiling:") and ARGV order id,
//     customer, disc, quantity, now in unix ms, fingerprint "resend", TTL 60 s, backlog bound 0, idempotency
//     key "", touch "0", "", "";
//   - answers 201 {"id":...} when the script reserved, 409 for any other code, 503 when Redis failed.
//
// For each order the script therefore does a GET of the idempotency key, HMGET of the disc, SISMEMBER of the
// inactive set, HINCRBY, XADD, HSET of the pending hash and SET ... EX of the idempotency key. The backlog bound
// is 0 (no bound) as the ceiling always passed: it has no writer, so its pending hash only grows.
//
// It must not change: the shop is measured against it, and a faster shop (a leaner script, fewer round trips)
// must be measured against the same bar, not against a ceiling that moved with it. So it embeds its own copy
// of the script and its own copy of the key layout, and imports nothing of recordshop but rsredis.Connect (the
// connection, pool and timeouts the shop's clients get). Nothing imports it.
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cloudwego/hertz/pkg/app"
	"github.com/cloudwego/hertz/pkg/app/server"
	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	rsredis "github.com/learecordshop/recordshop/dal/redis"
)

// reserveScript is scripts/lua/reserve.lua of commit 12f9ccab91500f42ba7ffd4769d2761f140945a2, frozen.
//
//go:embed reserve_frozen.lua
var reserveScript string

// The frozen key layout and arguments (dal/redis Keys and Gate.Reserve at the frozen commit).
const (
	namespace  = "ceiling:"
	partitions = 16
	resendTTL  = "60" // seconds: resendTTL (1 min) of the frozen Gate.Reserve
	priceCents = 4990
)

// orderBody is the body of POST /v1/orders.
type orderBody struct {
	CustomerID int64 `json:"customer_id"`
	DiscID     int64 `json:"disc_id"`
	Quantity   int   `json:"quantity"`
}

// tag is the key prefix of the partition of a disc: the hash tag {p} keeps one order's keys in one slot.
func tag(discID int64) string {
	return namespace + "{" + strconv.FormatInt(discID%partitions, 10) + "}:"
}

// discKey is the disc hash the frozen script reads.
func discKey(discID int64) string { return tag(discID) + "disc:" + strconv.FormatInt(discID, 10) }

// reserver runs the frozen script by its SHA.
type reserver struct {
	rdb goredis.UniversalClient
	sha string
}

// load sends the frozen script with SCRIPT LOAD and keeps its SHA.
func (r *reserver) load(ctx context.Context) error {
	sha, err := r.rdb.ScriptLoad(ctx, reserveScript).Result()
	if err != nil {
		return fmt.Errorf("ceiling: script load: %w", err)
	}
	r.sha = sha
	return nil
}

// reserve runs the frozen script once for one order (a second time only after a NOSCRIPT, having loaded it
// again) and reports whether it reserved.
func (r *reserver) reserve(ctx context.Context, id uuid.UUID, in orderBody) (bool, error) {
	t := tag(in.DiscID)
	disc, cust, oid := strconv.FormatInt(in.DiscID, 10), strconv.FormatInt(in.CustomerID, 10), id.String()
	keys := []string{t + "disc:" + disc, t + "bought:" + disc, t + "idem:" + cust + ":~" + oid, t + "inactive",
		t + "orders", t + "pending"}
	args := []any{oid, in.CustomerID, in.DiscID, in.Quantity, time.Now().UnixMilli(), "resend", resendTTL, 0, "", "0", "", ""}
	ans, err := r.rdb.EvalSha(ctx, r.sha, keys, args...).Result()
	if err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
		if err = r.load(ctx); err == nil {
			ans, err = r.rdb.EvalSha(ctx, r.sha, keys, args...).Result()
		}
	}
	if err != nil {
		return false, fmt.Errorf("ceiling: evalsha: %w", err)
	}
	a, ok := ans.([]any)
	if !ok || len(a) == 0 {
		return false, errors.New("ceiling: evalsha: unexpected answer")
	}
	code, _ := a[0].(int64)
	return code == 1, nil
}

// main runs the server and exits 1 when it could not start or stopped on an error.
func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ceiling:", err)
		os.Exit(1)
	}
}

// run loads the disc and the script, then serves POST /v1/orders until SIGINT or SIGTERM.
func run() error {
	addr := flag.String("addr", "127.0.0.1:18090", "listen address")
	redisURL := flag.String("redis-url", "redis://127.0.0.1:6379/0", "Redis URL")
	disc := flag.Int64("disc", 1, "the disc loaded into Redis")
	stock := flag.Int64("stock", 100_000_000, "units of the disc")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rdb, err := rsredis.Connect(ctx, rsredis.Topology{URL: *redisURL})
	if err != nil {
		return err
	}
	defer rdb.Close()
	// The disc hash in the frozen script's format: no per-customer limit, on sale since 1970, every buyer known.
	if err := rdb.HSet(ctx, discKey(*disc), "avail", *stock, "ver", 1, "price", priceCents, "limit", 0, "starts", 0,
		"active", 1, "known", 1).Err(); err != nil {
		return fmt.Errorf("ceiling: load disc %d: %w", *disc, err)
	}
	r := &reserver{rdb: rdb}
	if err := r.load(ctx); err != nil {
		return err
	}

	h := server.New(server.WithHostPorts(*addr), server.WithDisablePrintRoute(true), server.WithExitWaitTime(2*time.Second))
	h.POST("/v1/orders", func(ctx context.Context, c *app.RequestContext) {
		var in orderBody
		if err := json.Unmarshal(c.Request.Body(), &in); err != nil {
			c.AbortWithStatus(http.StatusBadRequest)
			return
		}
		id, err := uuid.NewV7()
		if err != nil {
			c.AbortWithStatus(http.StatusInternalServerError)
			return
		}
		ok, err := r.reserve(ctx, id, in)
		switch {
		case err != nil:
			c.AbortWithStatus(http.StatusServiceUnavailable)
		case ok:
			c.Header("Content-Type", "application/json")
			c.SetStatusCode(http.StatusCreated)
			c.SetBodyString(`{"id":"` + id.String() + `"}`)
		default:
			c.AbortWithStatus(http.StatusConflict)
		}
	})
	errc := make(chan error, 1)
	go func() { errc <- h.Run() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return h.Shutdown(sctx)
}
