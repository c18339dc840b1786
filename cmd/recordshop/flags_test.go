package main

import (
	"flag"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
)

// commandReads is, for every subcommand, the config fields its code reads (run<Command>, open, connect and what
// they hand the fields to). A flag that sets any other field is one -h shows but the command ignores.
var commandReads = func() map[string][]string {
	stores := []string{"PGURL", "LogLevel", "RedisURL", "RedisCluster", "RedisSentinels", "RedisMaster", "Partitions"}
	wait := []string{"WaitReplicas", "WaitTimeout"}
	writer := []string{"WriterBatch", "WriterWait", "ClaimIdle"}
	api := []string{"ReserveMode", "HTTPAddr", "AdminTokens", "StorefrontTokens", "MaxBacklog", "RedisTimeout",
		"SoldOutHold", "NoWriter", "HTTPReadTimeout", "HTTPMaxConns", "PprofAddr", "ReconcileEvery", "GCHeapFloorMB"}
	join := func(parts ...[]string) []string { return slices.Concat(parts...) }
	return map[string][]string{
		"serve":     join(stores, wait, writer, api, []string{"NoMigrate"}),
		"dev":       join(stores, wait, writer, api, []string{"DevCluster"}),
		"writer":    join(stores, writer, []string{"NoMigrate", "MetricsAddr"}),
		"reconcile": join(stores, wait, []string{"ReserveMode", "Disc", "JSON", "Fix", "Rebuild", "Full", "StuckAfter"}),
		"migrate":   {"PGURL"},
		"seed":      {"PGURL", "SeedDiscs", "SeedCustomers"},
	}
}()

// TestEveryFlagIsOneTheCommandReads sets each flag a subcommand declares to a value other than its default and
// checks that what changes is a config field that subcommand reads: -h then shows no flag that does nothing.
func TestEveryFlagIsOneTheCommandReads(t *testing.T) {
	for cmd, reads := range commandReads {
		t.Run(cmd, func(t *testing.T) {
			base, fs, err := parseConfig(cmd, env(nil))
			if err != nil {
				t.Fatal(err)
			}
			before := *base
			n := 0
			fs.VisitAll(func(f *flag.Flag) {
				n++
				cfg, fresh, _ := parseConfig(cmd, env(nil))
				if err := setToOther(fresh, fresh.Lookup(f.Name)); err != nil {
					t.Errorf("-%s: %v", f.Name, err)
					return
				}
				changed := changedFields(before, *cfg)
				if len(changed) == 0 {
					t.Errorf("-%s changes no config field", f.Name)
				}
				for _, field := range changed {
					if !slices.Contains(reads, field) {
						t.Errorf("-%s sets %s, which %s does not read", f.Name, field, cmd)
					}
				}
			})
			if n == 0 {
				t.Fatalf("%s declares no flags", cmd)
			}
		})
	}
	t.Run("every command is in the table", func(t *testing.T) {
		for _, line := range strings.Split(usage, "\n") {
			f := strings.Fields(line)
			if len(f) < 2 || !strings.HasPrefix(line, "  ") || strings.HasPrefix(line, "   ") || f[0] == "version" {
				continue
			}
			if _, ok := commandReads[f[0]]; !ok {
				t.Errorf("the usage lists %q, which the table does not", f[0])
			}
		}
	})
}

// setToOther sets f to a valid value other than its default: true for a switch, else the first of a few
// candidates that its type accepts and that differs from the default.
func setToOther(fs *flag.FlagSet, f *flag.Flag) error {
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return fs.Set(f.Name, "true")
	}
	var err error
	for _, v := range []string{"7", "8", "7s", "8s"} {
		if v == f.DefValue {
			continue
		}
		if err = fs.Set(f.Name, v); err == nil && f.Value.String() != f.DefValue {
			return nil
		}
	}
	return err
}

// changedFields names the fields of config that differ between a and b.
func changedFields(a, b config) []string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	var out []string
	for i := range va.NumField() {
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			out = append(out, va.Type().Field(i).Name)
		}
	}
	sort.Strings(out)
	return out
}
