package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/cloudwego/hertz/pkg/common/hlog"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/learecordshop/recordshop/biz/edge"
)

const usage = `recordshop: the Lea Record Shop API

Usage: recordshop <command> [flags]

Commands:
  serve     run the HTTP API against existing Postgres and Redis (RS_PG_URL, RS_REDIS_URL)
  migrate   apply the database migrations
  seed      load the demo catalog and customers (--discs N adds N generated discs)
  writer    move confirmed orders from Redis to Postgres (beside serve --no-writer, or more of them)
  reconcile prove Redis and Postgres agree (exit 0 clean, 1 drift, 2 could not check); --fix, --rebuild
  dev       everything on a throwaway local Postgres and Redis, migrated and seeded

Run 'recordshop <command> -h' for the flags of a command. Every flag has an RS_* environment variable.
`

// run is the whole program: it parses args, builds every dependency and runs the subcommand until ctx ends.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	cmd, rest := args[0], args[1:]
	commands := map[string]func(context.Context, config, io.Writer, io.Writer) error{
		"serve":     runServe,
		"migrate":   runMigrate,
		"seed":      runSeed,
		"dev":       runDev,
		"writer":    runWriter,
		"reconcile": runReconcile,
	}
	if cmd == "help" || cmd == "-h" || cmd == "--help" {
		fmt.Fprint(stdout, usage)
		return nil
	}
	fn, ok := commands[cmd]
	if !ok {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
	cfg, fs, err := parseConfig(cmd, getenv)
	if err != nil {
		return err
	}
	fs.SetOutput(stderr)
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected arguments %q", cmd, fs.Args())
	}
	return fn(ctx, *cfg, stdout, stderr)
}

// newLogger builds the one logger of the process; dev gets a console encoder for humans.
func newLogger(level string, console bool, stderr io.Writer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, err
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder = zapcore.NewJSONEncoder(encCfg)
	if console {
		encCfg.EncodeLevel = zapcore.CapitalColorLevelEncoder
		enc = zapcore.NewConsoleEncoder(encCfg)
	}
	log := zap.New(zapcore.NewCore(enc, zapcore.AddSync(stderr), lvl))
	// Hertz's own logger says little of use at info; keep its warnings, through ours, without the request
	// bytes it quotes.
	hlog.SetLevel(hlog.LevelWarn)
	hlog.SetOutput(edge.FrameworkLog(log))
	return log, nil
}
