// Package redis is recordshop's boundary to Redis: the go-redis client and its options, the key layout of the
// stock gate, and the Go side of each Lua script. It owns everything that knows Redis: commands, replies and
// their errors, and the wire format of an order. Services see plain types and the sentinels declared here; no
// go-redis client, command or reply leaves the package.
//
// One file per concept:
//
//	client.go     connecting, and the client options every topology shares
//	keys.go       the key layout: partitions, hash tags, one key per fact
//	reply.go      the error replies callers act on, as sentinels, and checked reads of array replies
//	gate.go       Gate, the stock gate the order path, the catalog, the relay and reconcile hold
//	reserve.go    reserve.lua (the order path) and the order record it writes
//	stock.go      the stock of a disc: apply.lua, load.lua, adjust.lua, available units, sales, forgetting
//	pending.go    confirmed orders not yet in Postgres (read-your-writes)
//	customers.go  the deactivated customers every partition holds
//	meta.go       the deployment facts: the partition count
//	stream.go     the order streams: Streams (the writer's side) and what reconcile does to them
//	snapshot.go   reconcile's atomic read of a partition (one MULTI/EXEC)
//
// It must not hold business rules (what a refusal means, when to retry, what counts as drift): those belong to
// biz/service, which declares the small interfaces it needs and gets them from here at wiring time.
package redis
