// Package api assembles recordshop from its parts and runs it. `serve`, `writer`, `reconcile`, `dev` and every
// test harness start the shop here, in one lifecycle, so they all run the same thing:
//
//   - build: repositories over the given Postgres pool and Redis client, the services, the handlers and the
//     routes on a Hertz server. No I/O. The reservation mode (Redis or Postgres) and the Redis topology are a
//     choice of implementation made here, once.
//   - prepare: the store work the shop needs before it answers: claim the partition count in both stores, load
//     into Redis the discs on sale it lacks, apply what is left in the stock_events outbox, write the inactive
//     customers, warm the customer cache.
//   - run: listen, run the background work (the stock relay, the writer unless disabled) and shut down with a
//     deadline when the context ends.
//
// It owns the wiring: which implementation each service's interfaces get, and the order things start and stop
// in. It must not hold business rules, SQL or Redis commands (they live in biz/service, dal/pg and dal/redis;
// api only chooses and connects them), must not read the environment or flags (cmd/recordshop parses them into
// Deps), and keeps no package-level clients.
package api
