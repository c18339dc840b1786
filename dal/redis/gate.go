package redis

import (
	goredis "github.com/redis/go-redis/v9"

	"github.com/learecordshop/recordshop/scripts/lua"
)

// Gate is the Redis stock gate: the reservation script and the scripts and reads that keep Redis in step with
// Postgres. Its methods live in the file of their concept (reserve.go, stock.go, pending.go, customers.go,
// meta.go, stream.go, snapshot.go).
type Gate struct {
	rdb     goredis.UniversalClient
	keys    Keys
	reserve *goredis.Script
	apply   *goredis.Script
	load    *goredis.Script
	adjust  *goredis.Script
	repl    Replication
	batches *batches // reservations waiting to go to Redis together, per partition
}

// NewGate returns the gate over rdb with the given key layout.
func NewGate(rdb goredis.UniversalClient, keys Keys) *Gate {
	g := &Gate{rdb: rdb, keys: keys,
		reserve: goredis.NewScript(lua.Reserve), apply: goredis.NewScript(lua.Apply), load: goredis.NewScript(lua.Load),
		adjust: goredis.NewScript(lua.Adjust)}
	g.batches = &batches{g: g}
	return g
}

// WithReplication returns the gate with the replication wait r (see Replication); the zero value, the default,
// answers as soon as the primary has a write.
func (g *Gate) WithReplication(r Replication) *Gate {
	c := *g
	c.repl = r
	c.batches = &batches{g: &c} // batches of this gate wait as it does
	return &c
}

// Keys returns the key layout.
func (g *Gate) Keys() Keys { return g.keys }
