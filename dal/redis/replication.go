package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Replication is the durability gate for replicas: when Replicas > 0, every script that changes stock (a
// reservation, a stock event, a load, a repair) is followed by WAIT Replicas Timeout on the same connection,
// in the same round trip, and its answer counts only when that many replicas acknowledged it. An
// asynchronous replica promoted after its primary died then holds every order that was answered 201.
type Replication struct {
	Replicas int           // 0: answer as soon as the primary has the write
	Timeout  time.Duration // how long WAIT may block; DefaultWaitTimeout when 0
}

// DefaultWaitTimeout bounds WAIT when Replication.Timeout is 0. On a healthy link a replica acknowledges in
// about one round trip; the bound is what a buyer waits when a replica is gone, before the answer that tells
// them to repeat the request.
const DefaultWaitTimeout = 250 * time.Millisecond

// ErrNotReplicated: the primary made the change, but fewer replicas than required acknowledged it in time.
// The change stands on the primary; it is durable only once a replica has it, which a repeat of the same
// request (a replay, which waits again) establishes.
var ErrNotReplicated = errors.New("redis: fewer replicas than required acknowledged the write in time")

func (r Replication) timeout() time.Duration {
	if r.Timeout > 0 {
		return r.Timeout
	}
	return DefaultWaitTimeout
}

// evalWrite runs a script that may write. Without the gate it is one EVALSHA (EVAL when the server lacks the
// script, as on a freshly promoted replica). With the gate, the script and WAIT go down one connection to the
// primary of keys[0] in one pipeline, and acked is how many replicas WAIT counted; the caller decides whether
// the answer wrote anything, since a refusal has nothing to wait for. acked is -1 without the gate.
func (g *Gate) evalWrite(ctx context.Context, s *goredis.Script, keys []string, args ...any) (ans any, acked int64, err error) {
	if g.repl.Replicas <= 0 {
		ans, err = s.Run(ctx, g.rdb, keys, args...).Result()
		return ans, -1, err
	}
	backoff := 5 * time.Millisecond
	for {
		var node *goredis.Client
		if node, err = g.primaryFor(ctx, keys[0]); err == nil {
			ans, acked, err = evalWait(ctx, node, s, g.repl, keys, args)
		}
		if err == nil || !notRun(err) {
			return ans, acked, err
		}
		// The script did not run: the slot moved, or its primary is gone and a replica not yet promoted.
		// Ask the cluster again and retry while the caller's deadline allows.
		if c, ok := g.rdb.(*goredis.ClusterClient); ok {
			c.ReloadState(ctx)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, 0, errors.Join(err, ctx.Err())
		case <-t.C:
		}
		backoff = min(2*backoff, 100*time.Millisecond)
	}
}

// primaryFor is the client of the one server that holds key: on a cluster the primary of its slot, otherwise
// the client itself (one server, or the failover client, which always talks to the current primary).
func (g *Gate) primaryFor(ctx context.Context, key string) (*goredis.Client, error) {
	switch c := g.rdb.(type) {
	case *goredis.ClusterClient:
		return c.MasterForKey(ctx, key)
	case *goredis.Client:
		return c, nil
	}
	return nil, fmt.Errorf("redis: the replication wait needs a server, failover or cluster client, not %T", g.rdb)
}

// evalWait pipelines EVALSHA and WAIT on node, and EVAL and WAIT when the server lacks the script.
func evalWait(ctx context.Context, node *goredis.Client, s *goredis.Script, r Replication, keys []string, args []any) (any, int64, error) {
	run := func(eval func(goredis.Pipeliner) *goredis.Cmd) (ev, wait *goredis.Cmd) {
		_, _ = node.Pipelined(ctx, func(p goredis.Pipeliner) error {
			ev = eval(p)
			wait = p.Do(ctx, "WAIT", r.Replicas, r.timeout().Milliseconds())
			return nil
		})
		return ev, wait
	}
	ev, wait := run(func(p goredis.Pipeliner) *goredis.Cmd { return s.EvalSha(ctx, p, keys, args...) })
	if goredis.HasErrorPrefix(ev.Err(), "NOSCRIPT") {
		ev, wait = run(func(p goredis.Pipeliner) *goredis.Cmd { return s.Eval(ctx, p, keys, args...) })
	}
	if err := ev.Err(); err != nil {
		return nil, 0, err
	}
	acked, err := wait.Int64()
	if err != nil {
		return nil, 0, fmt.Errorf("redis: WAIT: %w", err)
	}
	return ev.Val(), acked, nil
}

// notRun reports whether err proves the script never ran: the server redirected or refused it before running
// it, or no connection could be made.
func notRun(err error) bool {
	if _, ok := goredis.IsMovedError(err); ok {
		return true
	}
	if _, ok := goredis.IsAskError(err); ok {
		return true
	}
	if goredis.IsClusterDownError(err) || goredis.IsTryAgainError(err) || goredis.IsLoadingError(err) ||
		goredis.IsReadOnlyError(err) || goredis.IsMasterDownError(err) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// replicated checks acked against the gate for an answer that wrote.
func (g *Gate) replicated(op string, acked int64) error {
	if g.repl.Replicas <= 0 || acked >= int64(g.repl.Replicas) {
		return nil
	}
	return fmt.Errorf("%s: %d of %d replicas acknowledged within %s: %w", op, acked, g.repl.Replicas, g.repl.timeout(), ErrNotReplicated)
}

// ShortOfReplicas names the primaries (every primary of a cluster, or the one server) that have fewer connected
// replicas than the wait asks for: orders on them cannot be confirmed until replicas come back. It names none
// when the gate does not wait.
func (g *Gate) ShortOfReplicas(ctx context.Context) ([]string, error) {
	if g.repl.Replicas <= 0 {
		return nil, nil
	}
	var mu sync.Mutex
	var short []string
	check := func(ctx context.Context, node *goredis.Client) error {
		n, err := connectedReplicas(ctx, node)
		if err != nil {
			return wrap("redis.short_of_replicas", err)
		}
		if n < g.repl.Replicas {
			mu.Lock()
			short = append(short, fmt.Sprintf("%s (%d of %d)", node.Options().Addr, n, g.repl.Replicas))
			mu.Unlock()
		}
		return nil
	}
	var err error
	switch c := g.rdb.(type) {
	case *goredis.ClusterClient:
		err = c.ForEachMaster(ctx, check)
	case *goredis.Client:
		err = check(ctx, c)
	default:
		err = fmt.Errorf("redis.short_of_replicas: no servers behind %T", g.rdb)
	}
	slices.Sort(short)
	return short, err
}

// connectedReplicas reads connected_slaves from the server's INFO replication.
func connectedReplicas(ctx context.Context, node *goredis.Client) (int, error) {
	info, err := node.Info(ctx, "replication").Result()
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "connected_slaves:"); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				return 0, fmt.Errorf("connected_slaves %q: %w", v, ErrBadReply)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("no connected_slaves in INFO replication: %w", ErrBadReply)
}
