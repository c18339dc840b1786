package redis_test

import (
	"context"
	"errors"
	"testing"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	rsredis "github.com/learecordshop/recordshop/dal/redis"
)

// scriptAnswer makes every script call (EVALSHA, EVAL) answer with one fixed reply, as a script that broke its
// contract (an edited file, a server that answered something else) would; other commands reach the server.
type scriptAnswer struct{ reply any }

func (h scriptAnswer) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h scriptAnswer) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if c, ok := cmd.(*goredis.Cmd); ok && (cmd.Name() == "evalsha" || cmd.Name() == "eval") {
			c.SetVal(h.reply)
			return nil
		}
		return next(ctx, cmd)
	}
}

func (h scriptAnswer) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return next
}

// TestMalformedScriptRepliesAreErrors feeds every script call a reply of the wrong shape. Each must come back
// as an error wrapping ErrBadReply: the scripts are also run by background goroutines (relay, reconcile) that no
// middleware recovers, so a panic there would take the process down.
func TestMalformedScriptRepliesAreErrors(t *testing.T) {
	const record = "0190d3f0-0000-7000-8000-000000000001|42|7|1|2599|1767225600123|"
	calls := []struct {
		name string
		call func(ctx context.Context, g *rsredis.Gate) error
	}{
		{"reserve", func(ctx context.Context, g *rsredis.Gate) error {
			_, err := g.Reserve(ctx, request(buyer, discID, 1, "key-1"))
			return err
		}},
		{"apply", func(ctx context.Context, g *rsredis.Gate) error {
			_, _, err := g.Apply(ctx, rsredis.Change{Disc: *liveDisc(discID, 10), Delta: 1})
			return err
		}},
		{"load", func(ctx context.Context, g *rsredis.Gate) error {
			_, err := g.Load(ctx, *liveDisc(discID, 10), nil)
			return err
		}},
		{"adjust", func(ctx context.Context, g *rsredis.Gate) error {
			_, err := g.Adjust(ctx, discID, 1, nil)
			return err
		}},
	}
	// Replies no script may give: each call must refuse all of them.
	common := []struct {
		name  string
		reply any
	}{
		{"not an array", int64(1)},
		{"a string", "1"},
		{"an empty array", []any{}},
		{"a string code", []any{"1", "x"}},
		{"a nil element", []any{nil}},
	}
	for _, c := range calls {
		for _, r := range common {
			t.Run(c.name+"/"+r.name, func(t *testing.T) {
				if err := malformed(t, r.reply, c.call); !errors.Is(err, rsredis.ErrBadReply) {
					t.Fatalf("err = %v; want ErrBadReply", err)
				}
			})
		}
	}

	// Replies that start right and break further in, per call.
	deeper := []struct {
		name  string
		call  int // index in calls
		reply any
	}{
		{"reserve: an array", 0, []any{"1", "2599", "1-0"}},
		{"reserve: reserved without its price", 0, "1\n1-0"},
		{"reserve: reserved with a price not a number", 0, "1\n25.99\n1-0"},
		{"reserve: reserved without a stream entry", 0, "1\n2599\n"},
		{"reserve: a code not a number", 0, "one\n2599\n1-0"},
		{"reserve: a code no script gives", 0, "11\n0\n"},
		{"reserve: replayed with a broken record", 0, "2\n1|2|3\n"},
		{"reserve: sold out without the units left", 0, "3\n\n"},
		{"reserve: over limit with a count not a number", 0, "4\ntwo\n"},
		{"reserve: an answer for each of two reservations", 0, "6\n0\n6\n0\n"},
		{"apply: value of another type", 1, []any{int64(1), "15"}},
	}
	for _, d := range deeper {
		t.Run(d.name, func(t *testing.T) {
			if err := malformed(t, d.reply, calls[d.call].call); !errors.Is(err, rsredis.ErrBadReply) {
				t.Fatalf("err = %v; want ErrBadReply", err)
			}
		})
	}

	// The same shapes, well formed, are read: the checks refuse only what is wrong.
	wellFormed := []struct {
		name  string
		call  int
		reply any
	}{
		{"reserve: reserved", 0, "1\n2599\n1-0"},
		{"reserve: replayed", 0, "2\n" + record + "\n"},
		{"reserve: sold out", 0, "3\n0\n"},
		{"reserve: inactive", 0, "6\n0\n"},
		{"apply: missing", 1, []any{int64(3)}},
	}
	for _, w := range wellFormed {
		t.Run(w.name, func(t *testing.T) {
			if err := malformed(t, w.reply, calls[w.call].call); err != nil {
				t.Fatalf("err = %v; want the reply read", err)
			}
		})
	}
}

// malformed runs call on a gate whose scripts all answer reply, and returns its error; a panic fails the test.
func malformed(t *testing.T, reply any, call func(context.Context, *rsredis.Gate) error) (err error) {
	t.Helper()
	mr := miniredis.RunT(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	rdb.AddHook(scriptAnswer{reply: reply})
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("reading the reply %#v panicked: %v", reply, r)
		}
	}()
	return call(t.Context(), rsredis.NewGate(rdb, rsredis.Keys{Namespace: "t:", Partitions: partitions}))
}
