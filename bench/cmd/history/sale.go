package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/learecordshop/recordshop/biz/problem"
)

// The sale on the hot disc after the cold start: saleBuyers past buyers of it (customers 2, 3, ...; every
// customer from 2 on bought it once or twice in the fill, see fill.go) each order one unit, one after another
// from one client, in two passes. In the first, Redis lacks them where the cold start loaded none of the disc's
// past buyers (known = 0), and each order reads the buyer's units from Postgres once; in the second, Redis
// holds them.
const (
	saleBuyers  = 1000
	firstBuyer  = 2
	saleRestock = 2 * saleBuyers // units added before the sale, so that both passes can sell to every buyer
)

// salePass is one pass of the sale: its latencies, its answers and what it cost Postgres.
type salePass struct {
	name       string
	lat        []time.Duration // sorted once the pass is over
	answers    map[string]int  // "201", "409 purchase-limit", ...
	failed     string          // the first 5xx or transport error, which stopped the pass
	pgCalls    int64           // statements of the shop in Postgres during the pass
	unitsCalls int64           // of them, reads of a buyer's units (disc_buyers)
	unitsMS    float64         // their execution time
}

// created is how many orders the pass placed.
func (p *salePass) created() int { return p.answers["201"] }

// answerText lists the answers, the most frequent first.
func (p *salePass) answerText() string {
	keys := make([]string, 0, len(p.answers))
	for k := range p.answers {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if p.answers[keys[i]] != p.answers[keys[j]] {
			return p.answers[keys[i]] > p.answers[keys[j]]
		}
		return keys[i] < keys[j]
	})
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s × %d", k, p.answers[k]))
	}
	return strings.Join(parts, ", ")
}

// saleResult is the sale: its passes, and the state of the hot disc in Redis it started from.
type saleResult struct {
	passes    []*salePass
	known     string // the hot disc's known flag in Redis before the sale: "0" when it holds only some buyers
	restocked int64  // units the restock added (0 when it failed)
	persisted int64  // orders of the sale Postgres had once serve wrote them
}

// measureSale runs the sale on the hot disc while serve is up after the cold start: a restock of saleRestock
// units (the disc has only 500 left, fewer than the sale's first pass asks for), then the two passes.
func measureSale(ctx context.Context, c config, s *stack, r *sizeResult) error {
	sale := &saleResult{}
	r.sale = sale
	known, err := s.rdb.HGet(ctx, s.keys.Disc(hotDisc), "known").Result()
	switch {
	case err == nil:
		sale.known = known
	case errors.Is(err, goredis.Nil):
		sale.known = "1" // absent: every buyer (reserve.lua)
	default:
		return fmt.Errorf("the hot disc's known flag: %w", err)
	}
	client := &http.Client{Timeout: time.Minute}
	defer client.CloseIdleConnections() // serve's graceful stop would otherwise wait for them
	if err := restockHot(ctx, s, client); err != nil {
		r.check("the hot disc is restocked for the sale", false, "%v", err)
	} else {
		sale.restocked = saleRestock
	}
	// Open the client's connection, so that the first order does not pay for it.
	if req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/readyz", nil); err == nil {
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	start := time.Now()
	for _, name := range []string{"1 (first orders)", "2 (second orders)"} {
		p := &salePass{name: name, answers: map[string]int{}}
		sale.passes = append(sale.passes, p)
		_ = s.statsReset(ctx)
		deadline := time.Now().Add(c.opTimeout)
		for cust := int64(firstBuyer); cust < firstBuyer+saleBuyers; cust++ {
			t := time.Now()
			key, failed := placeOrder(ctx, client, s, cust)
			p.lat = append(p.lat, time.Since(t))
			p.answers[key]++
			if failed != "" {
				p.failed = failed
				break
			}
			if time.Now().After(deadline) {
				p.failed = fmt.Sprintf("stopped after %d requests at -op-timeout", len(p.lat))
				break
			}
		}
		if _, _, calls, err := s.topStatements(ctx, "recordshop"); err == nil {
			p.pgCalls = calls
		}
		p.unitsCalls, p.unitsMS, _ = s.statementCalls(ctx, "recordshop", "FROM disc_buyers WHERE")
		slices.Sort(p.lat)
		r.check("sale pass "+name+": no 5xx and no transport error", p.failed == "", "%d requests%s", len(p.lat), prefixed(": ", p.failed))
		logf("  sale pass %s: p50 %s p99 %s max %s over %d; %s; %d units reads", name, fmtD(pct(p.lat, 0.50)),
			fmtD(pct(p.lat, 0.99)), fmtD(pct(p.lat, 1)), len(p.lat), p.answerText(), p.unitsCalls)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	var bad []string
	created := 0
	for _, p := range sale.passes {
		created += p.created()
		for k, n := range p.answers {
			if k != "201" && k != "403 customer-inactive" && k != "409 purchase-limit" && k != "409 sold-out" {
				bad = append(bad, fmt.Sprintf("%s × %d", k, n))
			}
		}
	}
	slices.Sort(bad)
	r.check("the sale's answers are all 201, 403 customer-inactive or 409 (purchase-limit, sold-out)", len(bad) == 0,
		"pass 1: %s; pass 2: %s%s", sale.passes[0].answerText(), sale.passes[1].answerText(), prefixed("; others: ", strings.Join(bad, ", ")))
	r.check("the sale's pass 1 sold at least 1 unit", sale.passes[0].created() > 0, "%d orders", sale.passes[0].created())

	// Wait for serve to write the sale's orders into Postgres: the rebuild that follows empties Redis, and
	// what the later steps measure is the ledger with them.
	waitUntil := time.Now().Add(time.Minute)
	for {
		err = s.pool.QueryRow(ctx, `SELECT count(*) FROM orders WHERE disc_id = $1 AND reserved_at >= $2`,
			hotDisc, start.Add(-time.Second)).Scan(&sale.persisted)
		if err != nil || sale.persisted >= int64(created) || time.Now().After(waitUntil) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err != nil {
		return fmt.Errorf("count the sale's orders: %w", err)
	}
	r.check("every order the sale placed reaches Postgres (within a minute)", sale.persisted == int64(created),
		"%d placed, %d in Postgres", created, sale.persisted)
	return nil
}

// placeOrder posts one order of one unit of the hot disc for customer cust and returns its answer: the status,
// with the problem kind of a 4xx. failed is set on a 5xx or a transport error, with what came back.
func placeOrder(ctx context.Context, client *http.Client, s *stack, cust int64) (answer, failed string) {
	body := fmt.Sprintf(`{"customer_id": %d, "disc_id": %d, "quantity": 1}`, cust, hotDisc)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/v1/orders", strings.NewReader(body))
	if err != nil {
		return "error", err.Error()
	}
	req.Header.Set("Authorization", "Bearer "+storefrontToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return "transport error", fmt.Sprintf("customer %d: %v", cust, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "transport error", fmt.Sprintf("customer %d: reading the answer: %v", cust, err)
	}
	answer = strconv.Itoa(resp.StatusCode)
	switch {
	case resp.StatusCode >= 500:
		return answer, fmt.Sprintf("customer %d: %d %s", cust, resp.StatusCode, shorten(string(b), 300))
	case resp.StatusCode >= 400:
		var p struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(b, &p) == nil && p.Type != "" {
			answer += " " + strings.TrimPrefix(p.Type, problem.TypePrefix)
		}
	}
	return answer, ""
}

// restockHot adds saleRestock units to the hot disc through the admin API and waits until Redis has applied
// the change (the disc's version in Redis is Postgres' stock version): a buyer's units read from Postgres
// count only at the version Redis is at.
func restockHot(ctx context.Context, s *stack, client *http.Client) error {
	body := fmt.Sprintf(`{"delta": %d}`, saleRestock)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("%s/v1/discs/%d/restock", s.base, hotDisc), bytes.NewBufferString(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("POST restock: %w", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST restock: %d %s", resp.StatusCode, shorten(string(b), 300))
	}
	var want int64
	if err := s.pool.QueryRow(ctx, `SELECT stock_version FROM discs WHERE id = $1`, hotDisc).Scan(&want); err != nil {
		return fmt.Errorf("the hot disc's stock version: %w", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ver, err := s.rdb.HGet(ctx, s.keys.Disc(hotDisc), "ver").Int64()
		if err == nil && ver >= want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis has the hot disc at version %d (%v), Postgres at %d, 30 s after the restock", ver, err, want)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// prefixed is prefix+s, or "" when s is.
func prefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}
