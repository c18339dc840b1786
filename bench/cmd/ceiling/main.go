// Command ceiling is the bench's bare ceiling: a Hertz server whose only handler decodes an order body and runs
// reserve.lua once (one EVALSHA) on Redis. No auth, no validation beyond the JSON, no customer lookup, no
// metrics, no logging: what is left is the HTTP stack, one Redis round trip and the script itself, which is the
// most the order path of recordshop could do on the same machine. Load it with the same vegeta as recordshop.
//
// It is a measuring stick, not part of the shop: it uses dal/redis' Gate to load and reserve exactly as the
// order path does, and must not grow anything else of recordshop's (each addition would move the ceiling it
// measures). Nothing imports it.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cloudwego/hertz/pkg/app"
	"github.com/cloudwego/hertz/pkg/app/server"
	"github.com/google/uuid"

	"github.com/learecordshop/recordshop/biz/model"
	rsredis "github.com/learecordshop/recordshop/dal/redis"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ceiling:", err)
		os.Exit(1)
	}
}

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
	gate := rsredis.NewGate(rdb, rsredis.Keys{Namespace: "ceiling:", Partitions: 16})
	if _, err := gate.Load(ctx, rsredis.DiscState{ID: *disc, Version: 1, Avail: *stock, PriceCents: 4990, Active: true}, nil); err != nil {
		return err
	}

	h := server.New(server.WithHostPorts(*addr), server.WithDisablePrintRoute(true), server.WithExitWaitTime(2*time.Second))
	h.POST("/v1/orders", func(ctx context.Context, c *app.RequestContext) {
		var in model.OrderCreate
		if err := json.Unmarshal(c.Request.Body(), &in); err != nil {
			c.AbortWithStatus(http.StatusBadRequest)
			return
		}
		id, err := uuid.NewV7()
		if err != nil {
			c.AbortWithStatus(http.StatusInternalServerError)
			return
		}
		res, err := gate.Reserve(ctx, rsredis.Reservation{Order: model.Order{ID: id, CustomerID: in.CustomerID,
			DiscID: in.DiscID, Quantity: in.Quantity, ReservedAt: time.Now()}})
		switch {
		case err != nil:
			c.AbortWithStatus(http.StatusServiceUnavailable)
		case res.Code == rsredis.Reserved:
			c.Header("Content-Type", "application/json")
			c.SetStatusCode(http.StatusCreated)
			c.SetBodyString(`{"id":"` + res.Order.ID.String() + `"}`)
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
