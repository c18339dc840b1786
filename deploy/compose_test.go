// Package deploy_test checks the deployment files the way the tools that run them read them:
// docker-compose.yml through the compose-spec loader (the same code docker compose uses), and
// deploy/redis.conf and deploy/Dockerfile as text. Nothing here needs Docker or the network.
package deploy_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/google/go-cmp/cmp"
)

const (
	composeFile = "../docker-compose.yml"
	redisConf   = "redis.conf"
	dockerfile  = "Dockerfile"

	// redisConfInContainer is where the redis service must mount deploy/redis.conf and what
	// redis-server must be started with.
	redisConfInContainer = "/usr/local/etc/redis/redis.conf"
	// binaryInImage is the path of the recordshop binary in the final image.
	binaryInImage = "/usr/local/bin/recordshop"
)

// loadProject loads docker-compose.yml with exactly the environment given: the process
// environment and any .env file are ignored, so the result does not depend on the machine.
// Variables left unset take the defaults written in the file (${VAR:-default}).
func loadProject(t *testing.T, env ...string) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions(
		[]string{composeFile},
		cli.WithWorkingDirectory(".."),
		cli.WithEnv(env),
	)
	if err != nil {
		t.Fatalf("compose options: %v", err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("load %s: %v", composeFile, err)
	}
	return project
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, ok := p.Services[name]
	if !ok {
		t.Fatalf("service %q missing; services: %v", name, p.ServiceNames())
	}
	return s
}

func absPath(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(rel)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestComposeServicesHaveHealthchecks(t *testing.T) {
	p := loadProject(t)
	tests := []struct {
		service string
		// words that must appear in the healthcheck command
		probe []string
	}{
		{"postgres", []string{"pg_isready"}},
		{"redis", []string{"redis-cli", "ping"}},
		{"recordshop", []string{"wget", "/readyz"}},
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			s := service(t, p, tt.service)
			hc := s.HealthCheck
			if hc == nil || hc.Disable {
				t.Fatalf("no healthcheck: depends_on service_healthy would never be satisfied")
			}
			if len(hc.Test) < 2 || (hc.Test[0] != "CMD" && hc.Test[0] != "CMD-SHELL") {
				t.Fatalf("healthcheck test = %q, want [CMD|CMD-SHELL, command...]", hc.Test)
			}
			cmdline := strings.Join(hc.Test[1:], " ")
			for _, w := range tt.probe {
				if !strings.Contains(cmdline, w) {
					t.Errorf("healthcheck %q does not contain %q", cmdline, w)
				}
			}
			if s.Restart == "" || s.Restart == types.RestartPolicyNo {
				t.Errorf("restart = %q, want a policy that brings the service back", s.Restart)
			}
		})
	}
}

func TestComposeRecordshopWaitsForHealthyStores(t *testing.T) {
	rs := service(t, loadProject(t), "recordshop")
	for _, dep := range []string{"postgres", "redis"} {
		t.Run(dep, func(t *testing.T) {
			d, ok := rs.DependsOn[dep]
			if !ok {
				t.Fatalf("recordshop does not depend on %s", dep)
			}
			if d.Condition != types.ServiceConditionHealthy {
				t.Errorf("depends_on.%s.condition = %q, want %q", dep, d.Condition, types.ServiceConditionHealthy)
			}
		})
	}
}

func TestComposeRecordshopServes(t *testing.T) {
	p := loadProject(t)
	rs := service(t, p, "recordshop")
	if rs.Build == nil {
		t.Fatal("recordshop has no build section")
	}
	if got, want := rs.Build.Context, absPath(t, ".."); got != want {
		t.Errorf("build context = %q, want the repository root %q", got, want)
	}
	if got, want := filepath.ToSlash(rs.Build.Dockerfile), "deploy/Dockerfile"; got != want {
		t.Errorf("build dockerfile = %q, want %q", got, want)
	}
	if diff := cmp.Diff([]string{"serve"}, []string(rs.Command)); diff != "" {
		t.Errorf("command (-want +got):\n%s", diff)
	}
	published := false
	for _, port := range rs.Ports {
		if port.Target == 8080 && port.Published != "" {
			published = true
		}
	}
	if !published {
		t.Errorf("container port 8080 is not published; ports = %+v", rs.Ports)
	}
}

func TestComposeRecordshopEnvironment(t *testing.T) {
	p := loadProject(t)
	env := service(t, p, "recordshop").Environment
	pgDB := envValue(service(t, p, "postgres").Environment, "POSTGRES_DB")

	tests := []struct {
		name     string
		optional bool
		// check validates a value that is set; nil accepts any non-empty value.
		check func(v string) error
	}{
		{name: "RS_PG_URL", check: func(v string) error {
			return checkURL(p, v, []string{"postgres", "postgresql"}, "postgres", "5432", "/"+pgDB)
		}},
		{name: "RS_REDIS_URL", check: func(v string) error {
			return checkURL(p, v, []string{"redis"}, "redis", "6379", "/0")
		}},
		{name: "RS_HTTP_ADDR", check: func(v string) error {
			if _, port, err := net.SplitHostPort(v); err != nil || port != "8080" {
				return fmt.Errorf("want the published and probed port 8080 (err %v)", err)
			}
			return nil
		}},
		{name: "RS_ADMIN_TOKENS", check: devToken},
		{name: "RS_STOREFRONT_TOKENS", check: devToken},
		{name: "RS_PARTITIONS", check: func(v string) error {
			if n, err := strconv.Atoi(v); err != nil || n < 1 {
				return fmt.Errorf("want a positive integer")
			}
			return nil
		}},
		{name: "RS_LOG_LEVEL", optional: true, check: oneOf("debug", "info", "warn", "error")},
		{name: "RS_RESERVE_MODE", optional: true, check: oneOf("redis", "postgres")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, ok := env[tt.name]
			if !ok || v == nil {
				if !tt.optional {
					t.Fatalf("%s is not set", tt.name)
				}
				return
			}
			if *v == "" {
				t.Fatalf("%s is empty", tt.name)
			}
			if tt.check != nil {
				if err := tt.check(*v); err != nil {
					t.Errorf("%s=%q: %v", tt.name, *v, err)
				}
			}
		})
	}
}

// TestComposeTokensComeFromEnvironment proves the defaults are only defaults: an operator's
// tokens replace them.
func TestComposeTokensComeFromEnvironment(t *testing.T) {
	for _, name := range []string{"RS_ADMIN_TOKENS", "RS_STOREFRONT_TOKENS"} {
		t.Run(name, func(t *testing.T) {
			want := "operator-token-a,operator-token-b"
			env := service(t, loadProject(t, name+"="+want), "recordshop").Environment
			if got := envValue(env, name); got != want {
				t.Errorf("%s = %q with %s=%q in the environment", name, got, name, want)
			}
		})
	}
}

func TestComposeRedisRunsShippedConfig(t *testing.T) {
	p := loadProject(t)
	redis := service(t, p, "redis")
	conf := readRedisConf(t)

	if diff := cmp.Diff([]string{"redis-server", redisConfInContainer}, []string(redis.Command)); diff != "" {
		t.Errorf("redis command (-want +got):\n%s", diff)
	}

	confMount := findMount(redis.Volumes, redisConfInContainer)
	switch {
	case confMount == nil:
		t.Errorf("nothing mounted at %s", redisConfInContainer)
	case confMount.Type != types.VolumeTypeBind || confMount.Source != absPath(t, redisConf):
		t.Errorf("%s mounts %s %q, want a bind of deploy/redis.conf", redisConfInContainer, confMount.Type, confMount.Source)
	case !confMount.ReadOnly:
		t.Errorf("%s is mounted read-write, want read-only", redisConfInContainer)
	}

	// The AOF and snapshots go to `dir`; if no named volume holds it they die with the container.
	dataDir := conf.last("dir")
	if dataDir == "" {
		t.Fatalf("redis.conf sets no dir")
	}
	checkNamedVolume(t, p, redis, dataDir)
}

func TestComposePostgresKeepsData(t *testing.T) {
	p := loadProject(t)
	pg := service(t, p, "postgres")
	if got := envValue(pg.Environment, "POSTGRES_DB"); got != "recordshop" {
		t.Errorf("POSTGRES_DB = %q, want recordshop", got)
	}
	checkNamedVolume(t, p, pg, "/var/lib/postgresql/data")
}

func TestRedisConfKeepsDurabilityContract(t *testing.T) {
	conf := readRedisConf(t)
	tests := []struct {
		directive, want, why string
	}{
		{"appendonly", "yes", "a 201 order lives only in Redis until the writer has it"},
		{"appendfsync", "everysec", "the documented contract: at most ~1 s lost on power loss"},
		{"aof-use-rdb-preamble", "yes", "fast restarts from rewritten AOFs"},
		{"no-appendfsync-on-rewrite", "no", "fsync must not pause during rewrites"},
		{"maxmemory-policy", "noeviction", "evicting a key oversells stock or drops an order"},
	}
	for _, tt := range tests {
		t.Run(tt.directive, func(t *testing.T) {
			if got := conf.last(tt.directive); got != tt.want {
				t.Errorf("%s = %q, want %q (%s)", tt.directive, got, tt.want, tt.why)
			}
		})
	}
	t.Run("save", func(t *testing.T) {
		saves := conf["save"]
		if len(saves) == 0 || slices.Contains(saves, "") {
			t.Errorf("save = %q, want RDB snapshots configured as a second line of defence", saves)
		}
	})
}

func TestDockerfileFinalStage(t *testing.T) {
	stages := readDockerfile(t)
	if len(stages) < 2 {
		t.Fatalf("%d stages, want a multi-stage build", len(stages))
	}
	final := stages[len(stages)-1]

	t.Run("non-root user", func(t *testing.T) {
		user := final.last("USER")
		name, _, _ := strings.Cut(user, ":")
		if name == "" || name == "root" || name == "0" {
			t.Errorf("final stage USER = %q, want a non-root user", user)
		}
	})
	t.Run("entrypoint is recordshop", func(t *testing.T) {
		ep, err := execForm(final.last("ENTRYPOINT"))
		if err != nil {
			t.Fatalf("ENTRYPOINT: %v", err)
		}
		if diff := cmp.Diff([]string{binaryInImage}, ep); diff != "" {
			t.Errorf("ENTRYPOINT (-want +got):\n%s", diff)
		}
	})
	t.Run("cmd is serve", func(t *testing.T) {
		cmd, err := execForm(final.last("CMD"))
		if err != nil {
			t.Fatalf("CMD: %v", err)
		}
		if diff := cmp.Diff([]string{"serve"}, cmd); diff != "" {
			t.Errorf("CMD (-want +got):\n%s", diff)
		}
	})
	t.Run("binary copied from build stage", func(t *testing.T) {
		for _, copyArgs := range final.all("COPY") {
			f := strings.Fields(copyArgs)
			if strings.HasPrefix(copyArgs, "--from=") && f[len(f)-1] == binaryInImage {
				return
			}
		}
		t.Errorf("final stage copies nothing from a build stage to %s", binaryInImage)
	})
	t.Run("exposes 8080", func(t *testing.T) {
		if !slices.Contains(strings.Fields(final.last("EXPOSE")), "8080") {
			t.Errorf("EXPOSE = %q, want 8080", final.last("EXPOSE"))
		}
	})
}

// The production image must not carry the dev stack, which starts servers and runs apt-get as root: the build
// stage compiles recordshop with -tags nodev, under which `recordshop dev` only says it is not in the build.
func TestDockerfileBuildsWithoutDevStack(t *testing.T) {
	stages := readDockerfile(t)
	for _, s := range stages[:len(stages)-1] {
		for _, run := range s.all("RUN") {
			if !strings.Contains(run, "go build") || !strings.Contains(run, "./cmd/recordshop") {
				continue
			}
			if f := strings.Fields(run); !slices.Contains(f, "-tags=nodev") && !containsPair(f, "-tags", "nodev") {
				t.Errorf("the build of recordshop runs %q, want it with -tags nodev", run)
			}
			return
		}
	}
	t.Fatal("no build stage runs go build ./cmd/recordshop")
}

// containsPair reports whether f holds a followed directly by b.
func containsPair(f []string, a, b string) bool {
	for i := 0; i+1 < len(f); i++ {
		if f[i] == a && f[i+1] == b {
			return true
		}
	}
	return false
}

// --- helpers -------------------------------------------------------------------------------------

func envValue(env types.MappingWithEquals, name string) string {
	if v := env[name]; v != nil {
		return *v
	}
	return ""
}

func checkURL(p *types.Project, raw string, schemes []string, host, port, path string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if !slices.Contains(schemes, u.Scheme) {
		return fmt.Errorf("scheme %q, want one of %v", u.Scheme, schemes)
	}
	if _, ok := p.Services[u.Hostname()]; !ok || u.Hostname() != host {
		return fmt.Errorf("host %q, want the %s service", u.Hostname(), host)
	}
	if u.Port() != port {
		return fmt.Errorf("port %q, want %s", u.Port(), port)
	}
	if u.Path != path {
		return fmt.Errorf("path %q, want %q", u.Path, path)
	}
	return nil
}

// devToken accepts a token list whose default is plainly not meant for production.
func devToken(v string) error {
	for _, tok := range strings.Split(v, ",") {
		if !strings.Contains(tok, "change-me") {
			return fmt.Errorf("default token %q does not say it must be changed", tok)
		}
	}
	return nil
}

func oneOf(values ...string) func(string) error {
	return func(v string) error {
		if !slices.Contains(values, v) {
			return fmt.Errorf("want one of %v", values)
		}
		return nil
	}
}

func findMount(vols []types.ServiceVolumeConfig, target string) *types.ServiceVolumeConfig {
	for i := range vols {
		if vols[i].Target == target {
			return &vols[i]
		}
	}
	return nil
}

func checkNamedVolume(t *testing.T, p *types.Project, s types.ServiceConfig, target string) {
	t.Helper()
	m := findMount(s.Volumes, target)
	if m == nil {
		t.Errorf("%s: nothing mounted at %s", s.Name, target)
		return
	}
	if m.Type != types.VolumeTypeVolume {
		t.Errorf("%s: %s is a %s mount, want a named volume", s.Name, target, m.Type)
		return
	}
	if _, ok := p.Volumes[m.Source]; !ok {
		t.Errorf("%s: volume %q is not declared under volumes:", s.Name, m.Source)
	}
}

// redisConfig maps a directive (lower case) to its values in file order. Redis applies the last
// one, except for directives like save that accumulate.
type redisConfig map[string][]string

func (c redisConfig) last(directive string) string {
	v := c[directive]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

func readRedisConf(t *testing.T) redisConfig {
	t.Helper()
	f, err := os.Open(redisConf)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	conf := redisConfig{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		directive, value, _ := strings.Cut(line, " ")
		value = strings.Trim(strings.TrimSpace(value), `"`)
		directive = strings.ToLower(directive)
		conf[directive] = append(conf[directive], value)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return conf
}

// stage holds the instructions of one Dockerfile stage: instruction (upper case) -> arguments.
type stage map[string][]string

func (s stage) all(instr string) []string { return s[instr] }

func (s stage) last(instr string) string {
	v := s[instr]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// readDockerfile splits the Dockerfile into stages, joining continued lines and dropping
// comments. It is enough for the instructions checked here, not a general parser.
func readDockerfile(t *testing.T) []stage {
	t.Helper()
	raw, err := os.ReadFile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	var stages []stage
	var logical strings.Builder
	flush := func() {
		line := strings.TrimSpace(logical.String())
		logical.Reset()
		if line == "" {
			return
		}
		instr, args, _ := strings.Cut(line, " ")
		instr = strings.ToUpper(instr)
		if instr == "FROM" {
			stages = append(stages, stage{})
		}
		if len(stages) == 0 {
			return // ARG before the first FROM
		}
		cur := stages[len(stages)-1]
		cur[instr] = append(cur[instr], strings.TrimSpace(args))
	}
	for _, line := range strings.Split(string(raw), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			continue
		}
		if cont, ok := strings.CutSuffix(trimmed, `\`); ok {
			logical.WriteString(cont + " ")
			continue
		}
		logical.WriteString(trimmed)
		flush()
	}
	flush()
	return stages
}

// execForm decodes the JSON (exec) form of ENTRYPOINT or CMD. The shell form is refused: it runs
// the binary under /bin/sh, which does not forward SIGTERM, so graceful shutdown never happens.
func execForm(args string) ([]string, error) {
	var v []string
	if err := json.Unmarshal([]byte(args), &v); err != nil {
		return nil, fmt.Errorf("%q is not in exec form: %w", args, err)
	}
	return v, nil
}
