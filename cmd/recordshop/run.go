package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/cloudwego/hertz/pkg/common/hlog"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/learecordshop/recordshop/biz/edge"
	rsredis "github.com/learecordshop/recordshop/dal/redis"
)

const usage = `recordshop: the Lea Record Shop API

Usage: recordshop <command> [flags]

Commands:
  serve     run the HTTP API against existing Postgres and Redis (RS_PG_URL, RS_REDIS_URL)
  migrate   apply the database migrations
  seed      load the demo catalog and customers (--discs N adds N generated discs, --customers N makes
            sure generated customers 1..N exist)
  writer    move confirmed orders from Redis to Postgres (beside serve --no-writer, or more of them)
  reconcile prove Redis and Postgres agree (exit 0 clean, 1 drift, 2 could not check); --fix, --rebuild
  dev       everything on a throwaway local Postgres and Redis, migrated and seeded
  version   print the build: module version, VCS revision and Go version (also --version)

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
	switch cmd {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "version", "-version", "--version":
		if len(rest) == 1 && (rest[0] == "-h" || rest[0] == "--help") {
			fmt.Fprintln(stderr, "Usage: recordshop version (or recordshop --version): prints the build and takes no flags")
			return nil
		}
		if len(rest) > 0 {
			return fmt.Errorf("%s: unexpected arguments %q", cmd, rest)
		}
		info, ok := debug.ReadBuildInfo()
		fmt.Fprint(stdout, versionText(info, ok))
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
	// serve takes the tokens it is given into the world; dev makes up its own.
	if cmd == "serve" {
		if err := cfg.refusePlaceholders(); err != nil {
			return err
		}
	}
	return fn(ctx, *cfg, stdout, stderr)
}

// versionText says which build this is: the module version and the VCS revision, time and state the go command
// stamped into it, and the Go release that compiled it.
func versionText(info *debug.BuildInfo, ok bool) string {
	platform := runtime.GOOS + "/" + runtime.GOARCH
	if !ok {
		return fmt.Sprintf("recordshop (no build information in this binary)\ngo:        %s %s\n", runtime.Version(), platform)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	var b strings.Builder
	fmt.Fprintf(&b, "recordshop %s\n", info.Main.Version)
	if rev := settings["vcs.revision"]; rev != "" {
		fmt.Fprintf(&b, "revision:  %s\n", rev)
		modified := settings["vcs.modified"]
		if modified == "true" {
			modified += " (built from a work tree with uncommitted changes)"
		}
		fmt.Fprintf(&b, "modified:  %s\n", modified)
		if t := settings["vcs.time"]; t != "" {
			fmt.Fprintf(&b, "committed: %s\n", t)
		}
	} else {
		b.WriteString("revision:  unknown (built without VCS information: go run, -buildvcs=false, or no .git in the build context)\n")
	}
	fmt.Fprintf(&b, "go:        %s %s\n", info.GoVersion, platform)
	return b.String()
}

// newLogger builds the one logger of the process; dev gets a console encoder for humans, coloured only when
// stderr is a terminal (a file or a pipe would keep the escape codes as text).
func newLogger(level string, console bool, stderr io.Writer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, err
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder = zapcore.NewJSONEncoder(encCfg)
	if console {
		encCfg.EncodeLevel = zapcore.CapitalLevelEncoder
		if f, ok := stderr.(*os.File); ok && isTerminal(f) {
			encCfg.EncodeLevel = zapcore.CapitalColorLevelEncoder
		}
		enc = zapcore.NewConsoleEncoder(encCfg)
	}
	log := zap.New(zapcore.NewCore(enc, zapcore.AddSync(stderr), lvl))
	// Hertz's own logger says little of use at info; keep its warnings, through ours, without the request
	// bytes it quotes.
	hlog.SetLevel(hlog.LevelWarn)
	hlog.SetOutput(edge.FrameworkLog(log))
	// go-redis writes its own lines (a Sentinel failover, a failed dial) to stderr unless told otherwise.
	rsredis.LogClientTo(log)
	return log, nil
}
