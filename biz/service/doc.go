// Package service holds recordshop's rules: the catalog, customers, orders, the stock relay that carries
// Postgres' stock changes to Redis, the writer that moves confirmed orders from the Redis streams to Postgres
// exactly once, and reconcile. It takes context.Context and plain types (biz/model, and the plain values dal
// returns).
//
// Each service declares the small interfaces it needs from the stores (OrderStream and BatchStore for the
// writer, LedgerStore and RedisSnapshots for reconcile, ...) and holds only those. biz/api picks the
// implementations at wiring time, dal/pg and dal/redis or, in the Postgres-only reservation mode, no Redis at
// all: a mode is a choice of implementation, never a nil check in the rules. The subtlest rules are isolated
// from I/O and table-tested: the writer's policy (batching, poison entries, backoff, claims) against a fake
// OrderStream, and reconcile as gather (read both stores), judge (a pure verdict over the evidence) and repair
// (plan every fix, then apply them).
//
// It must not touch a driver: no SQL, no go-redis client or command, no HTTP. It imports dal only for the plain
// types and sentinels its interfaces speak (rsredis.Entry, pg.LedgerDisc), never to hold a concrete store.
package service
