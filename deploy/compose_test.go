// Package deploy_test checks the deployment files the way the tools that run them read them:
// docker-compose.yml, alone and with docker-compose.cluster.yml over it, through the compose-spec loader
// (the same code docker compose uses), the Kubernetes manifests of deploy/k8s document by document, and
// deploy/redis.conf and deploy/Dockerfile as text. Nothing here needs Docker, Kubernetes or the network.
package deploy_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
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
	"go.yaml.in/yaml/v3"
)

const (
	composeFile = "../docker-compose.yml"
	clusterFile = "../docker-compose.cluster.yml"
	redisConf   = "redis.conf"
	dockerfile  = "Dockerfile"
	// shopSources is the package of the recordshop command, which reads every RS_* variable.
	shopSources = "../cmd/recordshop"

	// redisConfInContainer is where the redis service must mount deploy/redis.conf and what
	// redis-server must be started with.
	redisConfInContainer = "/usr/local/etc/redis/redis.conf"
	// binaryInImage is the path of the recordshop binary in the final image.
	binaryInImage = "/usr/local/bin/recordshop"
)

// The API tokens an operator sets before any compose command (the file has no default for them).
const (
	operatorAdminTokens      = "4d2f0c9e8b7a6f5e4d3c2b1a09f8e7d6c5b4a3928170f6e5d4c3b2a190817263"
	operatorStorefrontTokens = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
)

// loadProject loads docker-compose.yml with exactly the environment given, over the operator's
// tokens: the process environment and any .env file are ignored, so the result does not depend on
// the machine. Variables left unset take the defaults written in the file (${VAR:-default}).
func loadProject(t *testing.T, env ...string) *types.Project {
	t.Helper()
	return loadFiles(t, []string{composeFile}, withTokens(env))
}

// loadClusterProject loads docker-compose.yml with docker-compose.cluster.yml over it, as
// `docker compose -f docker-compose.yml -f docker-compose.cluster.yml` does.
func loadClusterProject(t *testing.T, env ...string) *types.Project {
	t.Helper()
	return loadFiles(t, []string{composeFile, clusterFile}, withTokens(env))
}

// withTokens puts the operator's tokens before env, whose own settings win.
func withTokens(env []string) []string {
	return append([]string{"RS_ADMIN_TOKENS=" + operatorAdminTokens, "RS_STOREFRONT_TOKENS=" + operatorStorefrontTokens}, env...)
}

func loadFiles(t *testing.T, files, env []string) *types.Project {
	t.Helper()
	project, err := tryLoad(files, env)
	if err != nil {
		t.Fatalf("load %v: %v", files, err)
	}
	return project
}

// tryLoad loads files with exactly the environment env (later settings of a variable win).
func tryLoad(files, env []string) (*types.Project, error) {
	vars := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	var list []string
	for k, v := range vars {
		list = append(list, k+"="+v)
	}
	opts, err := cli.NewProjectOptions(
		files,
		cli.WithWorkingDirectory(".."),
		cli.WithEnv(list),
	)
	if err != nil {
		return nil, fmt.Errorf("compose options: %w", err)
	}
	return opts.LoadProject(context.Background())
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
		{name: "RS_ADMIN_TOKENS", check: equals(operatorAdminTokens)},
		{name: "RS_STOREFRONT_TOKENS", check: equals(operatorStorefrontTokens)},
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

// TestComposeRequiresRealTokens: the compose file ships no API token, so nobody runs the shop with
// one that everyone who read the file knows. Every command (alone, or with the cluster file over it)
// stops until both tokens are set, with a message that names the variable and how to make one.
func TestComposeRequiresRealTokens(t *testing.T) {
	for _, setup := range []struct {
		name  string
		files []string
	}{{"single", []string{composeFile}}, {"cluster", []string{composeFile, clusterFile}}} {
		for _, tt := range []struct {
			name, missing string
			env           []string
		}{
			{"no tokens", "RS_ADMIN_TOKENS", nil},
			{"no storefront token", "RS_STOREFRONT_TOKENS", []string{"RS_ADMIN_TOKENS=" + operatorAdminTokens}},
			{"no admin token", "RS_ADMIN_TOKENS", []string{"RS_STOREFRONT_TOKENS=" + operatorStorefrontTokens}},
			{"empty tokens", "RS_", []string{"RS_ADMIN_TOKENS=", "RS_STOREFRONT_TOKENS="}},
		} {
			t.Run(setup.name+"/"+tt.name, func(t *testing.T) {
				p, err := tryLoad(setup.files, tt.env)
				if err == nil {
					rs := p.Services["recordshop"].Environment
					t.Fatalf("loaded with RS_ADMIN_TOKENS=%s RS_STOREFRONT_TOKENS=%s: the file has a default token",
						deref(rs["RS_ADMIN_TOKENS"]), deref(rs["RS_STOREFRONT_TOKENS"]))
				}
				if msg := err.Error(); !strings.Contains(msg, "required variable "+tt.missing) || !strings.Contains(msg, "openssl rand") {
					t.Errorf("error %q does not name %s and how to make a token", msg, tt.missing)
				}
			})
		}
	}
	raw, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.Contains(line, "_TOKENS:") && strings.Contains(line, ":-") {
			t.Errorf("a token variable has a default: %s", strings.TrimSpace(line))
		}
	}
}

// TestComposeTokensComeFromEnvironment proves the operator's tokens reach the shop.
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

// TestComposeSetsOnlyVariablesTheShopReads catches a misspelt or retired RS_* variable, which the shop
// would silently ignore: every one that a service of either compose setup sets must be read by the source of
// cmd/recordshop.
func TestComposeSetsOnlyVariablesTheShopReads(t *testing.T) {
	known := shopVariables(t)
	for _, setup := range []struct {
		name string
		load func(*testing.T, ...string) *types.Project
	}{{"single", loadProject}, {"cluster", loadClusterProject}} {
		t.Run(setup.name, func(t *testing.T) {
			p := setup.load(t)
			for _, name := range p.ServiceNames() {
				for key := range service(t, p, name).Environment {
					if strings.HasPrefix(key, "RS_") && !known[key] {
						t.Errorf("service %s sets %s, which cmd/recordshop does not read", name, key)
					}
				}
			}
		})
	}
}

// clusterNode is a service that runs redis-server in cluster mode.
type clusterNode struct {
	svc   types.ServiceConfig
	conf  string            // the config file redis-server is started with
	flags map[string]string // --name value pairs after it, names without the dashes
}

// clusterNodes returns the services of p that run redis-server with --cluster-enabled yes, by name.
func clusterNodes(t *testing.T, p *types.Project) map[string]clusterNode {
	t.Helper()
	nodes := map[string]clusterNode{}
	for _, name := range p.ServiceNames() {
		s := service(t, p, name)
		// The container runs the entrypoint with the command as its arguments.
		argv := append(append([]string{}, s.Entrypoint...), s.Command...)
		i := slices.Index(argv, "redis-server")
		if i < 0 || i+1 >= len(argv) {
			continue
		}
		n := clusterNode{svc: s, conf: argv[i+1], flags: map[string]string{}}
		rest := argv[i+2:]
		for j := 0; j < len(rest); j++ {
			flag, ok := strings.CutPrefix(rest[j], "--")
			if !ok || j+1 == len(rest) {
				t.Fatalf("%s: redis-server argument %q is not --name value", name, rest[j])
			}
			n.flags[flag] = rest[j+1]
			j++
		}
		if n.flags["cluster-enabled"] == "yes" {
			nodes[name] = n
		}
	}
	return nodes
}

func TestComposeClusterNodes(t *testing.T) {
	p := loadClusterProject(t)
	nodes := clusterNodes(t, p)
	if len(nodes) != 6 {
		t.Fatalf("%d services run redis-server with --cluster-enabled yes, want 6", len(nodes))
	}
	conf := readRedisConf(t)
	dataDir := conf.last("dir")
	volumes := map[string]string{} // volume -> node
	for name, n := range nodes {
		t.Run(name, func(t *testing.T) {
			if n.svc.Image != "redis:7" {
				t.Errorf("image = %q, want redis:7", n.svc.Image)
			}
			// The durability contract of the single server holds for every node: same file, mounted the same way.
			if n.conf != redisConfInContainer {
				t.Errorf("redis-server starts with %q, want %s", n.conf, redisConfInContainer)
			}
			m := findMount(n.svc.Volumes, redisConfInContainer)
			if m == nil || m.Type != types.VolumeTypeBind || m.Source != absPath(t, redisConf) || !m.ReadOnly {
				t.Errorf("%s is not a read-only bind of deploy/redis.conf: %+v", redisConfInContainer, m)
			}
			for flag, want := range map[string]string{
				"cluster-node-timeout":            "5000",
				"cluster-require-full-coverage":   "no",
				"cluster-preferred-endpoint-type": "hostname",
				// Clients are redirected to this name, which the compose DNS must resolve to this node.
				"cluster-announce-hostname": name,
			} {
				if got := n.flags[flag]; got != want {
					t.Errorf("--%s = %q, want %q", flag, got, want)
				}
			}
			for _, flag := range []string{"appendonly", "appendfsync", "dir", "maxmemory-policy"} {
				if v, ok := n.flags[flag]; ok {
					t.Errorf("--%s %s overrides redis.conf's durability settings", flag, v)
				}
			}
			// nodes.conf is relative to dir unless absolute; either way it must outlive the container.
			cf := n.flags["cluster-config-file"]
			if cf == "" {
				t.Fatal("no --cluster-config-file")
			}
			if !filepath.IsAbs(cf) {
				cf = filepath.Join(dataDir, cf)
			}
			if filepath.Dir(cf) != dataDir {
				t.Errorf("cluster config file %s is outside %s, the volume", cf, dataDir)
			}
			checkNamedVolume(t, p, n.svc, dataDir)
			if m := findMount(n.svc.Volumes, dataDir); m != nil {
				if other, ok := volumes[m.Source]; ok {
					t.Errorf("volume %s is shared with %s", m.Source, other)
				}
				volumes[m.Source] = name
			}
			if hc := n.svc.HealthCheck; hc == nil || hc.Disable || !slices.Contains(hc.Test, "ping") {
				t.Errorf("healthcheck = %+v, want redis-cli ping", hc)
			}
			if n.svc.Restart == "" || n.svc.Restart == types.RestartPolicyNo {
				t.Errorf("restart = %q, want a policy that brings the node back", n.svc.Restart)
			}
			if len(n.svc.Ports) > 0 {
				t.Errorf("ports %+v published: Redis is reachable only inside the compose network", n.svc.Ports)
			}
		})
	}
}

// clusterCreate is what the init service's `redis-cli --cluster create` line asks for.
type clusterCreate struct {
	nodes    []string // host:port
	replicas int
	yes      bool
}

// findClusterCreate finds the `redis-cli --cluster create` command in the init service's script (continued
// lines joined) and reads it.
func findClusterCreate(t *testing.T, s types.ServiceConfig) clusterCreate {
	t.Helper()
	script := strings.ReplaceAll(strings.Join(append(append([]string{}, s.Entrypoint...), s.Command...), "\n"), "\\\n", " ")
	for _, line := range strings.Split(script, "\n") {
		f := strings.Fields(line)
		i := slices.Index(f, "--cluster")
		if i < 0 || i+1 >= len(f) || f[i+1] != "create" || !slices.Contains(f[:i], "redis-cli") {
			continue
		}
		var c clusterCreate
		args := f[i+2:]
		for j := 0; j < len(args); j++ {
			switch a := args[j]; {
			case a == "--cluster-replicas" && j+1 < len(args):
				n, err := strconv.Atoi(args[j+1])
				if err != nil {
					t.Fatalf("--cluster-replicas %q", args[j+1])
				}
				c.replicas = n
				j++
			case a == "--cluster-yes":
				c.yes = true
			case strings.HasPrefix(a, "-"):
				t.Fatalf("unexpected %q in %q", a, line)
			default:
				c.nodes = append(c.nodes, a)
			}
		}
		return c
	}
	t.Fatalf("%s runs no `redis-cli --cluster create`", s.Name)
	return clusterCreate{}
}

const clusterInit = "redis-cluster-init"

func TestComposeClusterInit(t *testing.T) {
	p := loadClusterProject(t)
	nodes := clusterNodes(t, p)
	init := service(t, p, clusterInit)
	c := findClusterCreate(t, init)

	if !c.yes {
		t.Error("--cluster create without --cluster-yes waits for a typed yes that never comes")
	}
	if c.replicas != 1 {
		t.Errorf("--cluster-replicas %d, want 1", c.replicas)
	}
	if primaries := len(c.nodes) / (c.replicas + 1); len(c.nodes)%(c.replicas+1) != 0 || primaries != 3 {
		t.Errorf("%d nodes with %d replicas each make %d primaries (remainder %d), want 3",
			len(c.nodes), c.replicas, primaries, len(c.nodes)%(c.replicas+1))
	}
	seen := map[string]bool{}
	for _, addr := range c.nodes {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Errorf("node %q: %v", addr, err)
			continue
		}
		if _, ok := nodes[host]; !ok || port != "6379" {
			t.Errorf("node %q is not a cluster node service on 6379", addr)
		}
		if seen[host] {
			t.Errorf("node %s listed twice", host)
		}
		seen[host] = true
	}
	for name := range nodes {
		if !seen[name] {
			t.Errorf("cluster node %s is not in --cluster create", name)
		}
		if d, ok := init.DependsOn[name]; !ok || d.Condition != types.ServiceConditionHealthy {
			t.Errorf("%s does not wait for %s to be healthy", clusterInit, name)
		}
	}
	// Idempotent: a formed cluster is recognised before anything is created.
	script := strings.Join(init.Command, "\n")
	if i, j := strings.Index(script, "cluster_state:ok"), strings.Index(script, "--cluster create"); i < 0 || i > j {
		t.Error("the script does not check cluster_state:ok before --cluster create")
	}
	if init.Restart != "" && init.Restart != types.RestartPolicyNo {
		t.Errorf("restart = %q, want a one-shot service", init.Restart)
	}
}

func TestComposeClusterRecordshop(t *testing.T) {
	p := loadClusterProject(t)
	rs := service(t, p, "recordshop")
	nodes := clusterNodes(t, p)

	if diff := cmp.Diff([]string{"serve", "--no-writer"}, []string(rs.Command)); diff != "" {
		t.Errorf("command (-want +got):\n%s", diff)
	}
	// Set together with the cluster addresses, the shop refuses to start; empty counts as unset.
	if v := rs.Environment["RS_REDIS_URL"]; v != nil && *v != "" {
		t.Errorf("RS_REDIS_URL = %q beside RS_REDIS_CLUSTER_ADDRS", *v)
	}
	addrs := envValue(rs.Environment, "RS_REDIS_CLUSTER_ADDRS")
	if addrs == "" {
		t.Fatal("RS_REDIS_CLUSTER_ADDRS is not set")
	}
	for _, item := range strings.Split(addrs, ",") {
		host, port, err := net.SplitHostPort(strings.TrimSpace(item))
		if _, ok := nodes[host]; err != nil || !ok || port != "6379" {
			t.Errorf("RS_REDIS_CLUSTER_ADDRS item %q is not a cluster node service on 6379", item)
		}
	}
	// A WAIT for more replicas than a primary has never succeeds.
	replicas := findClusterCreate(t, service(t, p, clusterInit)).replicas
	if got := envValue(rs.Environment, "RS_REDIS_WAIT_REPLICAS"); got != strconv.Itoa(replicas) {
		t.Errorf("RS_REDIS_WAIT_REPLICAS = %q, want %d, the replicas of each primary", got, replicas)
	}

	for dep, want := range map[string]string{
		"postgres":  types.ServiceConditionHealthy,
		clusterInit: types.ServiceConditionCompletedSuccessfully,
	} {
		if d, ok := rs.DependsOn[dep]; !ok || d.Condition != want {
			t.Errorf("depends_on.%s = %+v, want condition %s", dep, d, want)
		}
	}
	for dep := range rs.DependsOn {
		if _, err := p.GetService(dep); err != nil {
			t.Errorf("recordshop depends on %s: %v", dep, err)
		}
	}
	// The single server is left out; it would hold nothing.
	if _, ok := p.DisabledServices["redis"]; !ok {
		t.Errorf("the single redis service runs beside the cluster")
	}
}

func TestComposeClusterWriter(t *testing.T) {
	p := loadClusterProject(t)
	rs := service(t, p, "recordshop")
	w := service(t, p, "recordshop-writer")

	if diff := cmp.Diff([]string{"writer"}, []string(w.Command)); diff != "" {
		t.Errorf("command (-want +got):\n%s", diff)
	}
	if w.Image != rs.Image || w.Build != nil {
		t.Errorf("image %q (build %v), want %q, the image the recordshop service builds", w.Image, w.Build != nil, rs.Image)
	}
	// The writer must reach the same Postgres and Redis with the same partitions as the API.
	for _, key := range []string{"RS_PG_URL", "RS_PARTITIONS", "RS_REDIS_URL", "RS_REDIS_CLUSTER_ADDRS", "RS_REDIS_WAIT_REPLICAS"} {
		if got, want := w.Environment[key], rs.Environment[key]; (got == nil) != (want == nil) || (got != nil && *got != *want) {
			t.Errorf("%s = %v, the recordshop service has %v", key, deref(got), deref(want))
		}
	}
	for key, v := range w.Environment {
		if strings.HasSuffix(key, "_TOKENS") {
			t.Errorf("the writer is given %s=%v, which it does not read", key, deref(v))
		}
	}
	metrics := envValue(w.Environment, "RS_METRICS_ADDR")
	_, port, err := net.SplitHostPort(metrics)
	if err != nil {
		t.Fatalf("RS_METRICS_ADDR = %q: %v", metrics, err)
	}
	if hc := w.HealthCheck; hc == nil || hc.Disable || !strings.Contains(strings.Join(hc.Test, " "), ":"+port+"/") {
		t.Errorf("healthcheck %+v does not probe the metrics port %s", hc, port)
	}
	for dep, want := range map[string]string{
		"postgres":  types.ServiceConditionHealthy,
		clusterInit: types.ServiceConditionCompletedSuccessfully,
		// serve applies the migrations; the writer does not.
		"recordshop": types.ServiceConditionHealthy,
	} {
		if d, ok := w.DependsOn[dep]; !ok || d.Condition != want {
			t.Errorf("depends_on.%s = %+v, want condition %s", dep, d, want)
		}
	}
}

// --- helpers -------------------------------------------------------------------------------------

func envValue(env types.MappingWithEquals, name string) string {
	if v := env[name]; v != nil {
		return *v
	}
	return ""
}

func deref(v *string) string {
	if v == nil {
		return "(unset)"
	}
	return fmt.Sprintf("%q", *v)
}

// shopVariables returns the RS_* names spelt as string literals in the non-test sources of cmd/recordshop,
// where config.go reads every setting.
func shopVariables(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(shopSources, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	fset := token.NewFileSet()
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			if v, err := strconv.Unquote(lit.Value); err == nil && isVariableName(v) {
				known[v] = true
			}
			return true
		})
	}
	if !known["RS_PG_URL"] || !known["RS_REDIS_URL"] {
		t.Fatalf("found %d RS_* names in %s, not RS_PG_URL and RS_REDIS_URL: where are the settings read?", len(known), shopSources)
	}
	return known
}

func isVariableName(s string) bool {
	rest, ok := strings.CutPrefix(s, "RS_")
	if !ok || rest == "" {
		return false
	}
	for _, r := range rest {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '_' {
			return false
		}
	}
	return true
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

func equals(want string) func(string) error {
	return func(v string) error {
		if v != want {
			return fmt.Errorf("want %q, the value in the environment", want)
		}
		return nil
	}
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

// --- Kubernetes manifests ------------------------------------------------------------------------

const k8sDir = "k8s"

// k8sObject is one document of a manifest: what every kind has, and the node to decode the rest from.
type k8sObject struct {
	file       string
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	node *yaml.Node
}

type labelSelector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

type podTemplate struct {
	Metadata struct {
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Spec struct {
		AutomountServiceAccountToken *bool `yaml:"automountServiceAccountToken"`
		Containers                   []struct {
			Name  string `yaml:"name"`
			Image string `yaml:"image"`
			Ports []struct {
				Name          string `yaml:"name"`
				ContainerPort int    `yaml:"containerPort"`
			} `yaml:"ports"`
		} `yaml:"containers"`
	} `yaml:"spec"`
}

type networkPeer struct {
	PodSelector       *labelSelector `yaml:"podSelector"`
	NamespaceSelector *labelSelector `yaml:"namespaceSelector"`
	IPBlock           *struct {
		CIDR string `yaml:"cidr"`
	} `yaml:"ipBlock"`
}

type networkRule struct {
	From  []networkPeer `yaml:"from"`
	To    []networkPeer `yaml:"to"`
	Ports []struct {
		Port     any    `yaml:"port"` // a number or a named container port
		Protocol string `yaml:"protocol"`
	} `yaml:"ports"`
}

type networkPolicy struct {
	Spec struct {
		PodSelector labelSelector `yaml:"podSelector"`
		PolicyTypes []string      `yaml:"policyTypes"`
		Ingress     []networkRule `yaml:"ingress"`
		Egress      []networkRule `yaml:"egress"`
	} `yaml:"spec"`
}

// allows reports whether the rule admits port (a number or a named port); a rule without ports admits all.
func (r networkRule) allows(port any) bool {
	if len(r.Ports) == 0 {
		return true
	}
	for _, p := range r.Ports {
		if fmt.Sprint(p.Port) == fmt.Sprint(port) {
			return true
		}
	}
	return false
}

// readManifests parses every document of every deploy/k8s file, as kubectl would have to.
func readManifests(t *testing.T) []k8sObject {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s: %v", k8sDir, err)
	}
	var objs []k8sObject
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(f)
		for i := 1; ; i++ {
			var node yaml.Node
			err := dec.Decode(&node)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s document %d: %v", file, i, err)
			}
			if len(node.Content) == 0 {
				continue // a --- with only comments after it
			}
			obj := k8sObject{file: file, node: &node}
			if err := node.Decode(&obj); err != nil {
				t.Fatalf("%s document %d: %v", file, i, err)
			}
			if obj.APIVersion == "" || obj.Kind == "" || obj.Metadata.Name == "" {
				t.Errorf("%s document %d lacks apiVersion, kind or metadata.name", file, i)
			}
			objs = append(objs, obj)
		}
		f.Close()
	}
	return objs
}

func objectsOf(objs []k8sObject, kind string) []k8sObject {
	var out []k8sObject
	for _, o := range objs {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

func decodeAs[T any](t *testing.T, o k8sObject) T {
	t.Helper()
	var v T
	if err := o.node.Decode(&v); err != nil {
		t.Fatalf("%s %s: %v", o.Kind, o.Metadata.Name, err)
	}
	return v
}

// selects reports whether a selector's labels all sit on a pod with labels.
func selects(sel map[string]string, labels map[string]string) bool {
	if len(sel) == 0 {
		return false // an empty selector selects every pod, which no rule here means
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// apiDeployment returns the Deployment of recordshop serve and its pod template.
func apiDeployment(t *testing.T, objs []k8sObject) (replicas int, selector labelSelector, pod podTemplate) {
	t.Helper()
	for _, o := range objectsOf(objs, "Deployment") {
		d := decodeAs[struct {
			Spec struct {
				Replicas int           `yaml:"replicas"`
				Selector labelSelector `yaml:"selector"`
				Template podTemplate   `yaml:"template"`
			} `yaml:"spec"`
		}](t, o)
		for _, c := range d.Spec.Template.Spec.Containers {
			if slices.Contains(containerArgs(t, o, c.Name), "serve") {
				return d.Spec.Replicas, d.Spec.Selector, d.Spec.Template
			}
		}
	}
	t.Fatal("no Deployment runs recordshop serve")
	return 0, labelSelector{}, podTemplate{}
}

func containerArgs(t *testing.T, o k8sObject, name string) []string {
	t.Helper()
	d := decodeAs[struct {
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct {
						Name string   `yaml:"name"`
						Args []string `yaml:"args"`
					} `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}](t, o)
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == name {
			return c.Args
		}
	}
	return nil
}

// cronJobPods returns the pod template of every CronJob.
func cronJobPods(t *testing.T, objs []k8sObject) map[string]podTemplate {
	t.Helper()
	out := map[string]podTemplate{}
	for _, o := range objectsOf(objs, "CronJob") {
		c := decodeAs[struct {
			Spec struct {
				JobTemplate struct {
					Spec struct {
						Template podTemplate `yaml:"template"`
					} `yaml:"spec"`
				} `yaml:"jobTemplate"`
			} `yaml:"spec"`
		}](t, o)
		out[o.Metadata.Name] = c.Spec.JobTemplate.Spec.Template
	}
	return out
}

// TestK8sPodsHaveNoServiceAccountToken: neither serve nor reconcile talks to the Kubernetes API, so their pods
// carry no token that a break-in could use against it.
func TestK8sPodsHaveNoServiceAccountToken(t *testing.T) {
	objs := readManifests(t)
	_, _, api := apiDeployment(t, objs)
	pods := cronJobPods(t, objs)
	if len(pods) == 0 {
		t.Fatal("no CronJob: where is reconcile?")
	}
	pods["deployment/recordshop"] = api
	for name, pod := range pods {
		if a := pod.Spec.AutomountServiceAccountToken; a == nil || *a {
			t.Errorf("%s: automountServiceAccountToken is not false", name)
		}
	}
}

// TestK8sDisruptionBudget: a node drain takes API pods one at a time, never all of them.
func TestK8sDisruptionBudget(t *testing.T) {
	objs := readManifests(t)
	replicas, _, api := apiDeployment(t, objs)
	found := false
	for _, o := range objectsOf(objs, "PodDisruptionBudget") {
		pdb := decodeAs[struct {
			Spec struct {
				MinAvailable   any           `yaml:"minAvailable"`
				MaxUnavailable any           `yaml:"maxUnavailable"`
				Selector       labelSelector `yaml:"selector"`
			} `yaml:"spec"`
		}](t, o)
		if !selects(pdb.Spec.Selector.MatchLabels, api.Metadata.Labels) {
			continue
		}
		found = true
		maxU, minA := fmt.Sprint(pdb.Spec.MaxUnavailable), fmt.Sprint(pdb.Spec.MinAvailable)
		switch {
		case pdb.Spec.MaxUnavailable != nil && pdb.Spec.MinAvailable != nil:
			t.Errorf("%s sets both minAvailable and maxUnavailable, which the API refuses", o.Metadata.Name)
		case pdb.Spec.MaxUnavailable != nil && maxU != "1":
			t.Errorf("%s: maxUnavailable %s, want 1", o.Metadata.Name, maxU)
		case pdb.Spec.MinAvailable != nil && (minA != "1" || replicas < 2):
			t.Errorf("%s: minAvailable %s with %d replicas, want 1 of at least 2", o.Metadata.Name, minA, replicas)
		case pdb.Spec.MaxUnavailable == nil && pdb.Spec.MinAvailable == nil:
			t.Errorf("%s bounds nothing", o.Metadata.Name)
		}
	}
	if !found {
		t.Errorf("no PodDisruptionBudget selects the API pods (labels %v)", api.Metadata.Labels)
	}
}

// TestK8sNetworkPolicies: the API pods take their port from anywhere and /metrics from the monitoring
// namespace, and reach DNS, Redis and Postgres only; Redis, which runs without a password behind this policy
// (deploy/redis.conf), is reached by recordshop's pods and its own, and by nothing else.
func TestK8sNetworkPolicies(t *testing.T) {
	objs := readManifests(t)
	_, _, api := apiDeployment(t, objs)
	var apiPolicy, redisPolicy *networkPolicy
	for _, o := range objectsOf(objs, "NetworkPolicy") {
		np := decodeAs[networkPolicy](t, o)
		switch {
		case selects(np.Spec.PodSelector.MatchLabels, api.Metadata.Labels):
			apiPolicy = &np
		case np.Spec.PodSelector.MatchLabels["app.kubernetes.io/name"] == "redis":
			redisPolicy = &np
		}
	}
	if apiPolicy == nil || redisPolicy == nil {
		t.Fatalf("want a NetworkPolicy for the API pods (%v) and one for Redis; API %v, Redis %v", api.Metadata.Labels, apiPolicy != nil, redisPolicy != nil)
	}

	t.Run("api", func(t *testing.T) {
		p := apiPolicy.Spec
		if !slices.Contains(p.PolicyTypes, "Ingress") || !slices.Contains(p.PolicyTypes, "Egress") {
			t.Errorf("policyTypes %v, want Ingress and Egress", p.PolicyTypes)
		}
		port := api.Spec.Containers[0].Ports[0]
		openToAll, monitoring := false, false
		for _, r := range p.Ingress {
			if !r.allows(port.Name) && !r.allows(port.ContainerPort) {
				continue
			}
			openToAll = openToAll || len(r.From) == 0
			for _, f := range r.From {
				if f.NamespaceSelector != nil && f.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] == "monitoring" {
					monitoring = true
				}
			}
		}
		if !openToAll || !monitoring {
			t.Errorf("ingress to %s (%d): from anywhere %v, from the monitoring namespace %v; want both", port.Name, port.ContainerPort, openToAll, monitoring)
		}
		for _, want := range []int{53, 6379, 5432} {
			if !slices.ContainsFunc(p.Egress, func(r networkRule) bool { return len(r.Ports) > 0 && r.allows(want) }) {
				t.Errorf("egress does not allow port %d", want)
			}
		}
		for _, r := range p.Egress {
			if len(r.Ports) == 0 {
				t.Errorf("an egress rule allows every port: %+v", r)
			}
		}
	})

	t.Run("redis", func(t *testing.T) {
		p := redisPolicy.Spec
		if !slices.Contains(p.PolicyTypes, "Ingress") {
			t.Errorf("policyTypes %v, want Ingress", p.PolicyTypes)
		}
		reaches := func(labels map[string]string, port int) bool {
			for _, r := range p.Ingress {
				if !r.allows(port) {
					continue
				}
				for _, f := range r.From {
					if f.NamespaceSelector == nil && f.IPBlock == nil && f.PodSelector != nil && selects(f.PodSelector.MatchLabels, labels) {
						return true
					}
				}
			}
			return false
		}
		for _, r := range p.Ingress {
			if len(r.From) == 0 {
				t.Errorf("an ingress rule admits anyone: %+v", r)
			}
		}
		clients := cronJobPods(t, objs)
		clients["the API"] = api
		for name, pod := range clients {
			if !reaches(pod.Metadata.Labels, 6379) {
				t.Errorf("%s's pods (%v) cannot reach Redis on 6379", name, pod.Metadata.Labels)
			}
		}
		if !reaches(map[string]string{"app.kubernetes.io/name": "redis"}, 16379) {
			t.Error("Redis pods cannot reach each other (replication, the cluster bus)")
		}
		if reaches(map[string]string{"app.kubernetes.io/name": "storefront"}, 6379) {
			t.Error("a pod that is neither recordshop nor Redis reaches Redis")
		}
	})
}

// TestK8sSecretHasNoUsableValues: applied unchanged, the Secret leaves serve without a database URL and without
// tokens, so it refuses to start, instead of running with values everybody who read the file knows. Every
// other document carries app.kubernetes.io/component, which is how the file is applied without the Secret.
func TestK8sSecretHasNoUsableValues(t *testing.T) {
	objs := readManifests(t)
	secrets := objectsOf(objs, "Secret")
	if len(secrets) != 1 {
		t.Fatalf("%d Secrets, want the one the Deployment reads", len(secrets))
	}
	s := decodeAs[struct {
		StringData map[string]string `yaml:"stringData"`
		Data       map[string]string `yaml:"data"`
	}](t, secrets[0])
	if len(s.Data) > 0 {
		t.Errorf("data %v: values belong in the cluster, not in the file", s.Data)
	}
	for _, key := range []string{"RS_PG_URL", "RS_ADMIN_TOKENS", "RS_STOREFRONT_TOKENS"} {
		if v, ok := s.StringData[key]; !ok || v != "" {
			t.Errorf("%s = %q (present %v); want it present and empty", key, v, ok)
		}
	}
	for key, v := range s.StringData {
		if strings.Contains(strings.ToLower(v), "change") || strings.Contains(v, "@") {
			t.Errorf("%s = %q looks like a placeholder or holds credentials", key, v)
		}
	}
	for _, o := range objs {
		_, labelled := o.Metadata.Labels["app.kubernetes.io/component"]
		if labelled == (o.Kind == "Secret") {
			t.Errorf("%s %s: app.kubernetes.io/component present %v; want it on every document but the Secret", o.Kind, o.Metadata.Name, labelled)
		}
	}
}

// TestK8sImagesPinnedOrSaySo: the API and reconcile run one image, and each reference is pinned by digest or
// carries, just above it, the command that gives the digest to pin it with.
func TestK8sImagesPinnedOrSaySo(t *testing.T) {
	objs := readManifests(t)
	_, _, api := apiDeployment(t, objs)
	want := api.Spec.Containers[0].Image
	for name, pod := range cronJobPods(t, objs) {
		if got := pod.Spec.Containers[0].Image; got != want {
			t.Errorf("CronJob %s runs %s, the Deployment %s", name, got, want)
		}
	}
	files, _ := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(raw), "\n")
		for i, line := range lines {
			if !strings.HasPrefix(strings.TrimSpace(line), "image:") || strings.Contains(line, "@sha256:") {
				continue
			}
			above := strings.Join(lines[max(0, i-3):i], "\n")
			if !strings.Contains(above, "crane digest") || !strings.Contains(above, "imagetools inspect") {
				t.Errorf("%s:%d: %s is not pinned by digest and does not say how to pin it", file, i+1, strings.TrimSpace(line))
			}
		}
	}
}
