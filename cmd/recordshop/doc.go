// Command recordshop is the Lea Record Shop API in one binary, with subcommands: serve (the API, with the writer
// in-process unless --no-writer), writer, reconcile, migrate, seed, and dev (the whole shop on a throwaway local
// Postgres and Redis, migrated and seeded).
//
// main calls run(ctx, args, getenv, stdout, stderr) and exits non-zero on its error; each subcommand is a small
// file beside it. It owns the process: the configuration (env and flags, validated once, logged with secrets
// masked), the logger and store clients built from it, signals, exit codes and what is printed. The shop itself
// is started through biz/api's lifecycle (build, prepare, run).
//
// It must not hold business rules or wiring of its own: what the shop does lives in biz/api and below. Built
// with -tags nodev, as the production image is, it has no dev subcommand and links no dal/devstack.
package main
