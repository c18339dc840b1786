package devstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	clusterSlots   = 16384            // every key hashes to one of these
	clusterSize    = 6                // 3 primaries, 3 replicas
	settleTimeout  = 60 * time.Second // how long a cluster or sentinel group may take to agree on its state
	attemptTimeout = 2 * time.Second  // one round of checks within a poll
	nodeIOTimeout  = time.Second      // dial, read and write timeout of the per-node check clients
)

// ClusterOptions configures StartCluster. The zero value is a non-durable cluster that fails over in a few
// seconds, in os.TempDir().
type ClusterOptions struct {
	Dir string // parent for the temp dir; "" = os.TempDir()
	// NodeTimeout is cluster-node-timeout: how long a node may be unreachable before it is failing. 0 = 1s, short
	// so that a failover takes a few seconds.
	NodeTimeout time.Duration
	AOF         bool // appendonly yes, appendfsync everysec, so data survives Restart
	// Logf receives progress lines; nil is silent.
	Logf func(format string, args ...any)
}

// Cluster is a Redis Cluster of 3 primaries and 3 replicas (one replica each) on 127.0.0.1, each node a
// redis-server with its own dir and log in one temp dir. Which node replicates which is decided by
// redis-cli --cluster create and changes with every failover; ask PrimaryFor, never assume.
type Cluster struct {
	Addrs []string // every node, "127.0.0.1:port", the seed list for a cluster client

	fleet                            // the six nodes
	clients map[string]*redis.Client // one plain client per node for the checks; closed by Stop
}

// StartCluster finds (or installs) redis-server and redis-cli, starts six cluster-enabled nodes on free ports of
// 127.0.0.1, joins them with redis-cli --cluster create (one replica per primary) and waits until WaitHealthy
// holds. ctx bounds the start-up only; the nodes run until Stop or until this process dies. On error nothing is
// left behind.
func StartCluster(ctx context.Context, o ClusterOptions) (*Cluster, error) {
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	redisBin, cliBin, err := ensureRedis(logf, true)
	if err != nil {
		return nil, fmt.Errorf("devstack.start_cluster: %w", err)
	}
	nodeTimeout := o.NodeTimeout
	if nodeTimeout == 0 {
		nodeTimeout = time.Second
	}
	// The cluster bus listens on a port of its own, port+10000 unless told otherwise, which may be taken or
	// beyond 65535; so every node gets two free ports.
	ports, err := freePorts(2 * clusterSize)
	if err != nil {
		return nil, fmt.Errorf("devstack.start_cluster: %w", err)
	}
	dir, err := os.MkdirTemp(o.Dir, "recordshop-cluster-")
	if err != nil {
		return nil, fmt.Errorf("devstack.start_cluster: temp dir: %w", err)
	}
	c := &Cluster{
		fleet:   fleet{name: "cluster", logf: logf, dir: dir, servers: make(map[string]*server, clusterSize)},
		clients: make(map[string]*redis.Client, clusterSize),
	}
	aof := "no"
	if o.AOF {
		aof = "yes"
	}
	for i := 0; i < clusterSize; i++ {
		port, busPort := ports[2*i], ports[2*i+1]
		addr := loopback(port)
		nodeDir := filepath.Join(dir, fmt.Sprintf("node-%d", port))
		c.Addrs = append(c.Addrs, addr)
		c.clients[addr] = nodeClient(addr)
		c.servers[addr] = &server{
			name: "redis-server " + addr, path: redisBin, dir: nodeDir,
			log: filepath.Join(dir, fmt.Sprintf("node-%d.log", port)),
			args: []string{
				"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
				"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
				"--cluster-port", strconv.Itoa(busPort),
				"--cluster-node-timeout", strconv.FormatInt(nodeTimeout.Milliseconds(), 10),
				"--cluster-require-full-coverage", "no", "--cluster-replica-validity-factor", "0",
				"--save", "", "--appendonly", aof, "--appendfsync", "everysec",
				// A full sync waits 5s by default for more replicas to join the same transfer; ours come one by one.
				"--repl-diskless-sync-delay", "0",
				"--dir", nodeDir, "--daemonize", "no", "--protected-mode", "no",
			},
			stopSignal: syscall.SIGTERM,
		}
	}
	c.notMember = fmt.Sprintf("not a node of this cluster (%s)", strings.Join(c.Addrs, ","))
	if err := c.start(ctx, cliBin); err != nil {
		if stopErr := c.Stop(); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
		return nil, fmt.Errorf("devstack.start_cluster: %w", err)
	}
	return c, nil
}

// start makes the node dirs, starts the nodes, has redis-cli join them into a cluster and waits until it is
// healthy.
func (c *Cluster) start(ctx context.Context, cliBin string) error {
	for _, addr := range c.Addrs {
		if err := os.Mkdir(c.servers[addr].dir, 0o700); err != nil {
			return fmt.Errorf("node dir: %w", err)
		}
	}
	c.mu.Lock()
	err := c.startNodes(ctx, c.Addrs)
	c.mu.Unlock()
	if err != nil {
		return err
	}

	// redis-cli waits for the nodes to agree on the configuration it sent them, and has no deadline of its own.
	createCtx, cancel := context.WithTimeout(ctx, settleTimeout)
	defer cancel()
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	cmd := exec.CommandContext(createCtx, cliBin, args...)
	cmd.Dir = c.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	c.logf("devstack: redis-cli --cluster create %s", strings.Join(c.Addrs, " "))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("redis-cli --cluster create: %w; output:\n%s", err, tail(out))
	}
	if err := c.waitHealthy(ctx); err != nil {
		return err
	}
	c.logf("devstack: redis cluster ready at %s", strings.Join(c.Addrs, ","))
	return nil
}

// startNodes starts the nodes at addrs, all at once so that none of them is failing for long while the others
// come up, and waits until each answers PING. c.mu is held.
func (c *Cluster) startNodes(ctx context.Context, addrs []string) error {
	return c.launch(ctx, addrs, func(ctx context.Context, addr string) error { return c.clients[addr].Ping(ctx).Err() })
}

// Stop stops every node (SIGTERM, SIGKILL after a few seconds) and removes the temp dir with all data and logs in
// it. It is safe to call twice.
func (c *Cluster) Stop() error {
	return c.stop("devstack.cluster_stop", [][]string{c.Addrs}, func() {
		for _, client := range c.clients {
			_ = client.Close() // closing a client of a stopped server has nothing to report
		}
	})
}

// Kill kills the node at addr (SIGKILL, as a crash would) and leaves it down until Start. Killing a node that is
// down already does nothing.
func (c *Cluster) Kill(addr string) error {
	if _, err := c.kill("devstack.cluster_kill", addr); err != nil {
		return err
	}
	c.logf("devstack: killed cluster node %s", addr)
	return nil
}

// Start starts the node at addr again after Kill, on the same port, dir and nodes.conf (with AOF, on the same
// data), and waits until it answers PING. It rejoins the cluster on its own; WaitHealthy waits for that.
func (c *Cluster) Start(ctx context.Context, addr string) error {
	if _, err := c.startAgain(ctx, "devstack.cluster_start", addr, c.startNodes); err != nil {
		return err
	}
	c.logf("devstack: started cluster node %s", addr)
	return nil
}

// Restart kills all six nodes (SIGKILL, as a crash would), starts them again on the same ports, dirs and
// nodes.conf, and waits until WaitHealthy holds. With AOF every write acknowledged before Restart was called comes
// back: Restart first waits until each node has written its AOF buffer to the file, where the page cache keeps it
// across the kill. (Under appendfsync everysec Redis acknowledges a write before writing it out while an fsync
// is still running, so a bare SIGKILL right after a write may lose it; a power cut, which would also lose what
// was written but not yet fsynced, is not simulated.) Without AOF the cluster keeps its shape and loses its keys.
func (c *Cluster) Restart(ctx context.Context) error {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return errors.New("devstack.cluster_restart: cluster is stopped")
	}
	if err := c.waitAOFWritten(ctx, c.liveLocked(c.Addrs)); err != nil {
		c.mu.Unlock()
		return fmt.Errorf("devstack.cluster_restart: %w", err)
	}
	for _, addr := range c.Addrs {
		c.servers[addr].stop(syscall.SIGKILL, 0)
	}
	err := c.startNodes(ctx, c.Addrs)
	c.mu.Unlock()
	if err != nil {
		return fmt.Errorf("devstack.cluster_restart: %w", err)
	}
	if err := c.waitHealthy(ctx); err != nil {
		return fmt.Errorf("devstack.cluster_restart: %w", err)
	}
	c.logf("devstack: cluster restarted")
	return nil
}

// waitAOFWritten polls until every node at addrs with AOF on reports aof_buffer_length:0, that is, has written
// all it acknowledged to its AOF. Redis postpones that write for at most 2s while an fsync runs. c.mu is held.
func (c *Cluster) waitAOFWritten(ctx context.Context, addrs []string) error {
	return poll(ctx, 5*time.Second, func(ctx context.Context) error {
		for _, addr := range addrs {
			s, err := c.clients[addr].Info(ctx, "persistence").Result()
			if err != nil {
				return fmt.Errorf("%s: info persistence: %w", addr, err)
			}
			info := infoFields(s)
			if info["aof_enabled"] == "1" && info["aof_buffer_length"] != "0" {
				return fmt.Errorf("%s: aof_buffer_length:%s, not yet written to the AOF", addr, info["aof_buffer_length"])
			}
		}
		return nil
	})
}

// PrimaryFor returns the address of the primary that serves key's slot now, as the first live node that answers
// sees it (CLUSTER KEYSLOT, CLUSTER SHARDS). Between a primary's death and its replica's promotion that is still
// the dead primary; WaitPrimaryChanged waits for the promotion.
func (c *Cluster) PrimaryFor(ctx context.Context, key string) (string, error) {
	var errs []error
	for _, addr := range c.live(c.Addrs) {
		primary, err := c.primaryFor(ctx, addr, key)
		if err == nil {
			return primary, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return "", errors.New("devstack.cluster_primary_for: no node is running")
	}
	return "", fmt.Errorf("devstack.cluster_primary_for: %w", errors.Join(errs...))
}

// primaryFor is the primary of key's slot as the node at addr sees it.
func (c *Cluster) primaryFor(ctx context.Context, addr, key string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	client := c.clients[addr]
	slot, err := client.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		return "", fmt.Errorf("%s: cluster keyslot: %w", addr, err)
	}
	owners, err := slotOwners(ctx, client)
	if err != nil {
		return "", fmt.Errorf("%s: %w", addr, err)
	}
	for _, o := range owners {
		if o.start <= slot && slot <= o.end {
			return o.primary, nil
		}
	}
	return "", fmt.Errorf("%s: slot %d of %q has no primary", addr, slot, key)
}

// WaitPrimaryChanged polls until a node other than old serves key's slot as primary by its own account (CLUSTER
// SHARDS names it the slot's primary, ROLE says master) and reports cluster_state:ok, and every other live node
// names it too, so that a client that reloads its slot map from any of them finds it; it returns its address.
// It gives up when ctx ends or after a minute.
func (c *Cluster) WaitPrimaryChanged(ctx context.Context, key, old string) (string, error) {
	var primary string
	err := poll(ctx, settleTimeout, func(ctx context.Context) error {
		live := c.live(c.Addrs)
		candidate := ""
		var notes []string
		for _, addr := range live {
			if addr == old {
				continue
			}
			p, err := c.primaryFor(ctx, addr, key)
			switch {
			case err != nil:
				notes = append(notes, err.Error())
				continue
			case p != addr:
				continue
			}
			if err := c.servesAsPrimary(ctx, addr); err != nil {
				notes = append(notes, err.Error())
				continue
			}
			candidate = addr
			break
		}
		if candidate == "" {
			if len(notes) == 0 {
				return fmt.Errorf("no node but %s claims the slot of %q", old, key)
			}
			return errors.New(strings.Join(notes, "; "))
		}
		for _, addr := range live {
			p, err := c.primaryFor(ctx, addr, key)
			if err != nil {
				return err
			}
			if p != candidate {
				return fmt.Errorf("%s serves the slot of %q, but %s still names %s", candidate, key, addr, p)
			}
		}
		primary = candidate
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("devstack.cluster_wait_primary_changed: %s -> ?: %w", old, err)
	}
	c.logf("devstack: slot of %q moved from %s to %s", key, old, primary)
	return primary, nil
}

// servesAsPrimary checks that the node at addr is a master and reports cluster_state:ok.
func (c *Cluster) servesAsPrimary(ctx context.Context, addr string) error {
	client := c.clients[addr]
	if err := masterRole(ctx, client); err != nil {
		return fmt.Errorf("%s: %w", addr, err)
	}
	info, err := clusterInfo(ctx, client)
	if err != nil {
		return fmt.Errorf("%s: %w", addr, err)
	}
	if info["cluster_state"] != "ok" {
		return fmt.Errorf("%s: cluster_state:%s", addr, info["cluster_state"])
	}
	return nil
}

// WaitHealthy polls until every live node reports cluster_state:ok with all 16384 slots assigned and none failing,
// knows all six nodes and sees none of the live ones failing, all live nodes agree on which primary owns which
// slots, every such primary is live and has at least one replica online, and every other live node is a replica
// of one of them with its link up. It gives up when ctx ends or after a minute, saying what was still missing.
func (c *Cluster) WaitHealthy(ctx context.Context) error {
	if err := c.waitHealthy(ctx); err != nil {
		return fmt.Errorf("devstack.cluster_wait_healthy: %w", err)
	}
	return nil
}

// waitHealthy is WaitHealthy for the methods that wait for health as one of their steps, without its error prefix.
func (c *Cluster) waitHealthy(ctx context.Context) error {
	return poll(ctx, settleTimeout, func(ctx context.Context) error { return c.healthy(ctx) })
}

// healthy is one round of WaitHealthy's checks; its error names the first one that failed.
func (c *Cluster) healthy(ctx context.Context) error {
	live := c.live(c.Addrs)
	if len(live) == 0 {
		return errors.New("no node is running")
	}
	isLive := make(map[string]bool, len(live))
	for _, addr := range live {
		isLive[addr] = true
	}

	var want string // the slot map of the first node, which every other must repeat
	primaries := make(map[string]bool)
	for i, addr := range live {
		client := c.clients[addr]
		info, err := clusterInfo(ctx, client)
		if err != nil {
			return fmt.Errorf("%s: %w", addr, err)
		}
		for _, kv := range [][2]string{
			{"cluster_state", "ok"},
			{"cluster_slots_assigned", strconv.Itoa(clusterSlots)},
			{"cluster_slots_ok", strconv.Itoa(clusterSlots)},
			{"cluster_known_nodes", strconv.Itoa(len(c.Addrs))},
		} {
			if info[kv[0]] != kv[1] {
				return fmt.Errorf("%s: %s:%s, want %s", addr, kv[0], info[kv[0]], kv[1])
			}
		}
		if err := noLiveNodeFailing(ctx, client, isLive); err != nil {
			return fmt.Errorf("%s: %w", addr, err)
		}
		owners, err := slotOwners(ctx, client)
		if err != nil {
			return fmt.Errorf("%s: %w", addr, err)
		}
		var b strings.Builder
		for _, o := range owners {
			fmt.Fprintf(&b, "%d-%d=%s ", o.start, o.end, o.primary)
			if i == 0 {
				primaries[o.primary] = true
			}
		}
		if i == 0 {
			want = b.String()
		} else if got := b.String(); got != want {
			return fmt.Errorf("slot owners differ: %s sees %s, %s sees %s", live[0], want, addr, got)
		}
	}

	for _, addr := range live {
		info, err := replicationInfo(ctx, c.clients[addr])
		if err != nil {
			return fmt.Errorf("%s: %w", addr, err)
		}
		if primaries[addr] {
			if info["role"] != "master" {
				return fmt.Errorf("%s owns slots but has role:%s", addr, info["role"])
			}
			if n := onlineReplicas(info); n == 0 {
				return fmt.Errorf("%s: no replica online (connected_slaves:%s)", addr, info["connected_slaves"])
			}
			continue
		}
		if info["role"] != "slave" {
			return fmt.Errorf("%s owns no slots but has role:%s", addr, info["role"])
		}
		master := net.JoinHostPort(info["master_host"], info["master_port"])
		if !primaries[master] {
			return fmt.Errorf("%s replicates %s, which owns no slots", addr, master)
		}
		if info["master_link_status"] != "up" {
			return fmt.Errorf("%s: master_link_status:%s to %s", addr, info["master_link_status"], master)
		}
	}
	for p := range primaries {
		if !isLive[p] {
			return fmt.Errorf("slots are owned by %s, which is down", p)
		}
	}
	return nil
}

// slotRange is a range of slots and the address of the primary that owns it.
type slotRange struct {
	start, end int64
	primary    string
}

// slotOwners returns the slot ranges with their primaries as the node behind client sees them, sorted by start.
func slotOwners(ctx context.Context, client *redis.Client) ([]slotRange, error) {
	shards, err := client.ClusterShards(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("cluster shards: %w", err)
	}
	var owners []slotRange
	for _, sh := range shards {
		if len(sh.Slots) == 0 {
			continue
		}
		primary := ""
		for _, n := range sh.Nodes {
			if n.Role == "master" {
				primary = net.JoinHostPort(n.IP, strconv.FormatInt(n.Port, 10))
			}
		}
		if primary == "" {
			return nil, fmt.Errorf("cluster shards: slots %v have no master", sh.Slots)
		}
		for _, r := range sh.Slots {
			owners = append(owners, slotRange{start: r.Start, end: r.End, primary: primary})
		}
	}
	sort.Slice(owners, func(i, j int) bool { return owners[i].start < owners[j].start })
	return owners, nil
}

// noLiveNodeFailing checks the node's CLUSTER NODES for a live node it flags fail or fail? (PFAIL).
func noLiveNodeFailing(ctx context.Context, client *redis.Client, isLive map[string]bool) error {
	nodes, err := client.ClusterNodes(ctx).Result()
	if err != nil {
		return fmt.Errorf("cluster nodes: %w", err)
	}
	// <id> <ip:port@cport[,hostname]> <flags> <master> <ping-sent> <pong-recv> <config-epoch> <link-state> <slot>...
	for _, line := range strings.Split(strings.TrimSpace(nodes), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@")
		if !isLive[addr] {
			continue
		}
		for _, flag := range strings.Split(f[2], ",") {
			if flag == "fail" || flag == "fail?" {
				return fmt.Errorf("sees %s as %s", addr, flag)
			}
		}
		if f[7] != "connected" {
			return fmt.Errorf("link to %s is %s", addr, f[7])
		}
	}
	return nil
}

// clusterInfo returns the fields of CLUSTER INFO.
func clusterInfo(ctx context.Context, client *redis.Client) (map[string]string, error) {
	s, err := client.ClusterInfo(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("cluster info: %w", err)
	}
	return infoFields(s), nil
}

// masterRole checks that the node behind client answers ROLE as master: its own account, which may lag behind or
// run ahead of what the other nodes or the sentinels say of it.
func masterRole(ctx context.Context, client *redis.Client) error {
	role, err := client.Do(ctx, "ROLE").Slice()
	if err != nil {
		return fmt.Errorf("role: %w", err)
	}
	if len(role) == 0 || role[0] != "master" {
		return fmt.Errorf("role %v, want master", role)
	}
	return nil
}

// replicationInfo returns the fields of INFO replication.
func replicationInfo(ctx context.Context, client *redis.Client) (map[string]string, error) {
	s, err := client.Info(ctx, "replication").Result()
	if err != nil {
		return nil, fmt.Errorf("info replication: %w", err)
	}
	return infoFields(s), nil
}

// infoFields parses the "key:value" lines of INFO or CLUSTER INFO; "# Section" lines and blank ones are skipped.
func infoFields(s string) map[string]string {
	fields := make(map[string]string)
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = v
		}
	}
	return fields
}

// onlineReplicas counts the slaveN lines of a primary's INFO replication whose state is online.
func onlineReplicas(info map[string]string) int {
	n := 0
	for k, v := range info {
		idx, ok := strings.CutPrefix(k, "slave")
		if _, err := strconv.Atoi(idx); ok && err == nil && strings.Contains(v, "state=online") {
			n++
		}
	}
	return n
}

// nodeClient is a plain client for one server, for checks only: short timeouts, no retries, a small pool.
func nodeClient(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr: addr, DialTimeout: nodeIOTimeout, ReadTimeout: nodeIOTimeout, WriteTimeout: nodeIOTimeout,
		ContextTimeoutEnabled: true, MaxRetries: -1, PoolSize: 2, DisableIdentity: true,
	})
}

// poll calls check until it returns nil, ctx ends or limit passes, each call bounded by attemptTimeout; the error
// carries check's last complaint.
func poll(ctx context.Context, limit time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, attemptTimeout)
		err := check(attempt)
		cancelAttempt()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(pollEvery):
		}
	}
}

// loopback is the address of port on 127.0.0.1.
func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// freePorts asks the kernel for n distinct free ports on 127.0.0.1, holding each until all are chosen. As with
// freePort, another process could take one before its server binds it.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// ensureRedis returns the path of redis-server and, with withCli, of redis-cli (else ""). What is missing is
// installed by install, as EnsureBinaries does: redis-server (whose Debian package depends on redis-tools, which
// holds redis-cli), or redis-tools alone.
func ensureRedis(logf func(string, ...any), withCli bool) (redisServer, redisCli string, err error) {
	found := func() bool {
		redisServer = findRedis()
		if withCli {
			redisCli = findRedisCli()
		}
		return redisServer != "" && (!withCli || redisCli != "")
	}
	if found() {
		return redisServer, redisCli, checkRedisVersion(redisServer)
	}
	pkgs := []string{"redis-server"}
	if redisServer != "" {
		pkgs = []string{"redis-tools"}
	}
	if err := install(pkgs, found, logf); err != nil {
		return "", "", fmt.Errorf("ensure redis: %w", err)
	}
	if !found() {
		return "", "", fmt.Errorf("ensure redis: still missing after %s (redis-server %q, redis-cli %q)",
			installCommand(pkgs), redisServer, redisCli)
	}
	return redisServer, redisCli, checkRedisVersion(redisServer)
}

// checkRedisVersion fails for a redis-server older than 7.0, which lacks cluster-port, CLUSTER SHARDS, SENTINEL
// DEBUG and the sentinel's resolve-hostnames, all of which Cluster and Sentinel use.
func checkRedisVersion(redisServer string) error {
	out, err := exec.Command(redisServer, "--version").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s --version: %w; output:\n%s", redisServer, err, tail(out))
	}
	// "Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=..."
	for _, f := range strings.Fields(string(out)) {
		v, ok := strings.CutPrefix(f, "v=")
		if !ok {
			continue
		}
		major, _, _ := strings.Cut(v, ".")
		if n, err := strconv.Atoi(major); err != nil || n < 7 {
			return fmt.Errorf("%s is version %s; Redis Cluster and Sentinel here need 7.0 or later", redisServer, v)
		}
		return nil
	}
	return fmt.Errorf("%s --version: no version in %q", redisServer, strings.TrimSpace(string(out)))
}
