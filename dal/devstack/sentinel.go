package devstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	sentinelMaster = "recordshop" // the name the sentinels monitor the primary under
	sentinelQuorum = 2            // sentinels that must agree the primary is down before a failover
	sentinelCount  = 3
)

// sentinelTimers are the SENTINEL DEBUG settings every sentinel gets once it answers: Sentinel's fixed periods,
// shortened as cluster-node-timeout is for the cluster. A sentinel asks every node for INFO each info-period (10s
// by default), which is how it learns that a replica has linked up or that a former primary is back, and it
// makes a former primary that is back a replica 4 publish-periods (8s by default) after seeing it; with these, a
// returning primary is a replica in the sentinels' eyes within some 3s instead of 20s.
var sentinelTimers = []any{"info-period", 1000, "publish-period", 500}

// SentinelOptions configures StartSentinel. The zero value is a non-durable group that fails over in a few
// seconds, in os.TempDir().
type SentinelOptions struct {
	Dir string // parent for the temp dir; "" = os.TempDir()
	// DownAfter is down-after-milliseconds: how long the primary may not answer before a sentinel thinks it down.
	// 0 = 1s. The failover-timeout is fixed at 30 s (see StartSentinel).
	DownAfter time.Duration
	AOF       bool // appendonly yes, appendfsync everysec on both data nodes
	// Logf receives progress lines; nil is silent.
	Logf func(format string, args ...any)
}

// Sentinel is a Sentinel-managed primary on 127.0.0.1: one primary, one replica of it, and three sentinels that
// monitor it as Master with a quorum of two, each a redis-server with its own dir, config file and log in one
// temp dir. The sentinels rewrite the config files as they reconfigure the nodes, so a node started again keeps
// the role they last gave it, as in a real deployment.
type Sentinel struct {
	Master        string   // the master name, "recordshop"
	SentinelAddrs []string // the three sentinels, "127.0.0.1:port"
	Addrs         []string // the two data nodes, the first started as the primary, the second as its replica

	fleet                                      // the data nodes and the sentinels
	clients   map[string]*redis.Client         // one plain client per data node for the checks; closed by Stop
	sentinels map[string]*redis.SentinelClient // one client per sentinel; closed by Stop
}

// StartSentinel finds (or installs) redis-server, starts a primary and its replica on free ports of 127.0.0.1,
// waits until the replica's link is up, then starts three sentinels (redis-server <conf> --sentinel) that monitor
// the primary, and waits until WaitHealthy holds: every sentinel knows the primary, the replica and the two other
// sentinels. ctx bounds the start-up only; the servers run until Stop or until this process dies. On error nothing
// is left behind.
func StartSentinel(ctx context.Context, o SentinelOptions) (*Sentinel, error) {
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	redisBin, _, err := ensureRedis(logf, false)
	if err != nil {
		return nil, fmt.Errorf("devstack.start_sentinel: %w", err)
	}
	downAfter := o.DownAfter
	if downAfter == 0 {
		downAfter = time.Second
	}
	ports, err := freePorts(2 + sentinelCount)
	if err != nil {
		return nil, fmt.Errorf("devstack.start_sentinel: %w", err)
	}
	dir, err := os.MkdirTemp(o.Dir, "recordshop-sentinel-")
	if err != nil {
		return nil, fmt.Errorf("devstack.start_sentinel: temp dir: %w", err)
	}
	s := &Sentinel{
		Master: sentinelMaster,
		fleet: fleet{
			name: "sentinel group", logf: logf, dir: dir, servers: make(map[string]*server, 2+sentinelCount),
		},
		clients:   make(map[string]*redis.Client, 2),
		sentinels: make(map[string]*redis.SentinelClient, sentinelCount),
	}
	confs := make(map[string][]string, 2+sentinelCount) // config file lines by address
	aof := "no"
	if o.AOF {
		aof = "yes"
	}
	for i, port := range ports[:2] {
		addr := loopback(port)
		nodeDir := filepath.Join(dir, fmt.Sprintf("redis-%d", port))
		conf := []string{
			"port " + strconv.Itoa(port), "bind 127.0.0.1", "protected-mode no", "daemonize no",
			"dir " + configQuote(nodeDir), `save ""`, "appendonly " + aof, "appendfsync everysec",
			// A full sync waits 5s by default for more replicas to join the same transfer; there is one.
			"repl-diskless-sync-delay 0",
		}
		if i == 1 {
			conf = append(conf, fmt.Sprintf("replicaof 127.0.0.1 %d", ports[0]))
		}
		s.Addrs = append(s.Addrs, addr)
		s.clients[addr] = nodeClient(addr)
		s.servers[addr] = &server{
			name: "redis-server " + addr, path: redisBin, dir: nodeDir,
			log:        filepath.Join(dir, fmt.Sprintf("redis-%d.log", port)),
			args:       []string{filepath.Join(nodeDir, "redis.conf")},
			stopSignal: syscall.SIGTERM,
		}
		confs[addr] = conf
	}
	for _, port := range ports[2:] {
		addr := loopback(port)
		sentinelDir := filepath.Join(dir, fmt.Sprintf("sentinel-%d", port))
		s.SentinelAddrs = append(s.SentinelAddrs, addr)
		s.sentinels[addr] = redis.NewSentinelClient(&redis.Options{
			Addr: addr, DialTimeout: nodeIOTimeout, ReadTimeout: nodeIOTimeout, WriteTimeout: nodeIOTimeout,
			ContextTimeoutEnabled: true, MaxRetries: -1, PoolSize: 2, DisableIdentity: true,
		})
		// The sentinel rewrites its config file (its id, the replicas and sentinels it learnt), so each has its own.
		s.servers[addr] = &server{
			name: "redis-sentinel " + addr, path: redisBin, dir: sentinelDir,
			log:        filepath.Join(dir, fmt.Sprintf("sentinel-%d.log", port)),
			args:       []string{filepath.Join(sentinelDir, "sentinel.conf"), "--sentinel"},
			stopSignal: syscall.SIGTERM,
		}
		confs[addr] = []string{
			"port " + strconv.Itoa(port), "bind 127.0.0.1", "protected-mode no", "daemonize no",
			"dir " + configQuote(sentinelDir),
			"sentinel resolve-hostnames no", "sentinel announce-hostnames no",
			"sentinel announce-ip 127.0.0.1", "sentinel announce-port " + strconv.Itoa(port),
			fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d %d", sentinelMaster, ports[0], sentinelQuorum),
			fmt.Sprintf("sentinel down-after-milliseconds %s %d", sentinelMaster, downAfter.Milliseconds()),
			// Long enough that a failover that is merely slow (a loaded machine, the dead primary never answering
			// to be reconfigured) is not abandoned and followed by a second one back to the old primary once it
			// returns; the first failover does not wait for it.
			fmt.Sprintf("sentinel failover-timeout %s %d", sentinelMaster, (30 * time.Second).Milliseconds()),
			fmt.Sprintf("sentinel parallel-syncs %s 1", sentinelMaster),
		}
	}
	s.notMember = fmt.Sprintf("neither a data node (%s) nor a sentinel (%s)",
		strings.Join(s.Addrs, ","), strings.Join(s.SentinelAddrs, ","))
	if err := s.start(ctx, confs); err != nil {
		if stopErr := s.Stop(); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
		return nil, fmt.Errorf("devstack.start_sentinel: %w", err)
	}
	return s, nil
}

// start writes the config files (confs holds their lines by address), starts the primary and the replica, waits
// until the replica is linked, then starts the sentinels and waits until they know the group.
func (s *Sentinel) start(ctx context.Context, confs map[string][]string) error {
	for addr, lines := range confs {
		srv := s.servers[addr]
		if err := os.Mkdir(srv.dir, 0o700); err != nil {
			return fmt.Errorf("%s dir: %w", srv.name, err)
		}
		conf := srv.args[0]
		if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			return fmt.Errorf("%s config: %w", srv.name, err)
		}
	}

	s.mu.Lock()
	err := s.startServers(ctx, s.Addrs)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	// A sentinel learns of the replicas from the primary's INFO, which it asks for at once and then every 10s;
	// a replica that is linked before the sentinels start is known to them at once.
	err = poll(ctx, settleTimeout, func(ctx context.Context) error { return s.dataHealthy(ctx, s.Addrs[0]) })
	if err != nil {
		return err
	}
	s.mu.Lock()
	err = s.startServers(ctx, s.SentinelAddrs)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if err := s.waitHealthy(ctx); err != nil {
		return err
	}
	s.logf("devstack: redis sentinel ready at %s, master %s at %s",
		strings.Join(s.SentinelAddrs, ","), s.Master, s.Addrs[0])
	return nil
}

// startServers starts the servers at addrs, all at once, waits until each answers PING, then gives each sentinel
// among them its sentinelTimers, which it does not keep across a restart. s.mu is held.
func (s *Sentinel) startServers(ctx context.Context, addrs []string) error {
	if err := s.launch(ctx, addrs, s.ping); err != nil {
		return err
	}
	for _, addr := range addrs {
		sc, ok := s.sentinels[addr]
		if !ok {
			continue
		}
		attempt, cancel := context.WithTimeout(ctx, attemptTimeout)
		cmd := redis.NewStatusCmd(attempt, append([]any{"sentinel", "debug"}, sentinelTimers...)...)
		err := sc.Process(attempt, cmd)
		cancel()
		if err != nil {
			return fmt.Errorf("sentinel %s: sentinel debug %v: %w", addr, sentinelTimers, err)
		}
	}
	return nil
}

// ping sends PING to the data node or sentinel at addr.
func (s *Sentinel) ping(ctx context.Context, addr string) error {
	if sc, ok := s.sentinels[addr]; ok {
		return sc.Ping(ctx).Err()
	}
	return s.clients[addr].Ping(ctx).Err()
}

// Stop stops the sentinels, then the data nodes (SIGTERM, SIGKILL after a few seconds), and removes the temp dir
// with all data, config files and logs in it. It is safe to call twice.
func (s *Sentinel) Stop() error {
	// Sentinels first, so that none of them takes the stopping primary for a failed one.
	return s.stop("devstack.sentinel_stop", [][]string{s.SentinelAddrs, s.Addrs}, func() {
		for _, sc := range s.sentinels {
			_ = sc.Close() // closing a client of a stopped server has nothing to report
		}
		for _, client := range s.clients {
			_ = client.Close()
		}
	})
}

// Kill kills the data node or sentinel at addr (SIGKILL, as a crash would) and leaves it down until Start.
// Killing one that is down already does nothing.
func (s *Sentinel) Kill(addr string) error {
	srv, err := s.kill("devstack.sentinel_kill", addr)
	if err != nil {
		return err
	}
	s.logf("devstack: killed %s", srv.name)
	return nil
}

// Start starts the data node or sentinel at addr again after Kill, with the same port, dir and config file (as
// the sentinels last rewrote it), and waits until it answers PING. A former primary comes back as a primary with
// its old data, for a few seconds; the sentinels then turn it into a replica of the current primary on their own
// (see sentinelTimers). WaitHealthy waits for that.
func (s *Sentinel) Start(ctx context.Context, addr string) error {
	// A data node that is not the primary the sentinels name comes back as its replica, as an orchestrator's
	// start script would configure it. Started as the primary its old config says it was, it would hold stale
	// (or, without AOF, no) data for the seconds until the sentinels turn it into a replica, and a sentinel
	// that took the real primary for down meanwhile (a loaded machine) could promote it.
	if slices.Contains(s.Addrs, addr) {
		if primary, err := s.Primary(ctx); err == nil && primary != addr {
			if err := s.pointAt(addr, primary); err != nil {
				return fmt.Errorf("devstack.sentinel_start: %w", err)
			}
		}
	}
	srv, err := s.startAgain(ctx, "devstack.sentinel_start", addr, s.startServers)
	if err != nil {
		return err
	}
	s.logf("devstack: started %s", srv.name)
	return nil
}

// Primary returns the address of the primary as the first live sentinel that answers names it (SENTINEL
// GET-MASTER-ADDR-BY-NAME). Between a primary's death and the failover that is still the dead primary;
// WaitFailover waits for the failover.
func (s *Sentinel) Primary(ctx context.Context) (string, error) {
	var errs []error
	for _, addr := range s.live(s.SentinelAddrs) {
		primary, err := s.primaryOf(ctx, addr)
		if err == nil {
			return primary, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return "", errors.New("devstack.sentinel_primary: no sentinel is running")
	}
	return "", fmt.Errorf("devstack.sentinel_primary: %w", errors.Join(errs...))
}

// primaryOf is the primary as the sentinel at addr names it.
func (s *Sentinel) primaryOf(ctx context.Context, addr string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	hostPort, err := s.sentinels[addr].GetMasterAddrByName(ctx, s.Master).Result()
	if err != nil {
		return "", fmt.Errorf("sentinel %s: get-master-addr-by-name %s: %w", addr, s.Master, err)
	}
	if len(hostPort) != 2 {
		return "", fmt.Errorf("sentinel %s: get-master-addr-by-name %s = %q", addr, s.Master, hostPort)
	}
	return net.JoinHostPort(hostPort[0], hostPort[1]), nil
}

// agreedPrimary is the primary that every live sentinel names; it fails if one does not answer or they differ.
func (s *Sentinel) agreedPrimary(ctx context.Context) (string, error) {
	sentinels := s.live(s.SentinelAddrs)
	if len(sentinels) == 0 {
		return "", errors.New("no sentinel is running")
	}
	var primary string
	for i, addr := range sentinels {
		p, err := s.primaryOf(ctx, addr)
		if err != nil {
			return "", err
		}
		if i == 0 {
			primary = p
		} else if p != primary {
			return "", fmt.Errorf("sentinel %s names %s, sentinel %s names %s", sentinels[0], primary, addr, p)
		}
	}
	return primary, nil
}

// WaitFailover polls until every live sentinel names the same primary other than old and that node answers ROLE
// as master, and returns its address. It gives up when ctx ends or after a minute.
func (s *Sentinel) WaitFailover(ctx context.Context, old string) (string, error) {
	var primary string
	err := poll(ctx, settleTimeout, func(ctx context.Context) error {
		p, err := s.agreedPrimary(ctx)
		if err != nil {
			return err
		}
		if p == old {
			return fmt.Errorf("the sentinels still name %s", old)
		}
		if err := s.isMaster(ctx, p); err != nil {
			return err
		}
		primary = p
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("devstack.sentinel_wait_failover: %s -> ?: %w", old, err)
	}
	s.logf("devstack: sentinels failed %s over from %s to %s", s.Master, old, primary)
	return primary, nil
}

// isMaster checks that the data node at addr answers ROLE as master.
func (s *Sentinel) isMaster(ctx context.Context, addr string) error {
	client, ok := s.clients[addr]
	if !ok {
		return fmt.Errorf("the sentinels name %s, which is none of our data nodes (%s)", addr, strings.Join(s.Addrs, ","))
	}
	if err := masterRole(ctx, client); err != nil {
		return fmt.Errorf("%s: %w", addr, err)
	}
	return nil
}

// WaitHealthy polls until every live sentinel names the same live primary, which is a master, every other live
// data node replicates it with its link up, and every live sentinel knows each live replica as a replica of that
// primary in good standing and each other live sentinel. It gives up when ctx ends or after a minute, saying what
// was still missing.
func (s *Sentinel) WaitHealthy(ctx context.Context) error {
	if err := s.waitHealthy(ctx); err != nil {
		return fmt.Errorf("devstack.sentinel_wait_healthy: %w", err)
	}
	return nil
}

// waitHealthy is WaitHealthy for the methods that wait for health as one of their steps, without its error prefix.
func (s *Sentinel) waitHealthy(ctx context.Context) error {
	return poll(ctx, settleTimeout, func(ctx context.Context) error { return s.healthy(ctx) })
}

// healthy is one round of WaitHealthy's checks; its error names the first one that failed.
func (s *Sentinel) healthy(ctx context.Context) error {
	primary, err := s.agreedPrimary(ctx)
	if err != nil {
		return err
	}
	if len(s.live([]string{primary})) == 0 {
		return fmt.Errorf("the sentinels name %s, which is down", primary)
	}
	if err := s.dataHealthy(ctx, primary); err != nil {
		return err
	}
	var replicas []string
	for _, addr := range s.live(s.Addrs) {
		if addr != primary {
			replicas = append(replicas, addr)
		}
	}
	sentinels := s.live(s.SentinelAddrs)
	for _, addr := range sentinels {
		sc := s.sentinels[addr]
		known, err := sc.Replicas(ctx, s.Master).Result()
		if err != nil {
			return fmt.Errorf("sentinel %s: sentinel replicas %s: %w", addr, s.Master, err)
		}
		for _, r := range replicas {
			if err := knownAs(known, r, "slave"); err != nil {
				return fmt.Errorf("sentinel %s: replica %w", addr, err)
			}
			for _, m := range known {
				if net.JoinHostPort(m["ip"], m["port"]) == r &&
					(m["master-link-status"] != "ok" || net.JoinHostPort(m["master-host"], m["master-port"]) != primary) {
					return fmt.Errorf("sentinel %s: replica %s has master %s:%s, link %s; want %s, ok",
						addr, r, m["master-host"], m["master-port"], m["master-link-status"], primary)
				}
			}
		}
		peers, err := sc.Sentinels(ctx, s.Master).Result()
		if err != nil {
			return fmt.Errorf("sentinel %s: sentinel sentinels %s: %w", addr, s.Master, err)
		}
		for _, other := range sentinels {
			if other == addr {
				continue
			}
			if err := knownAs(peers, other, "sentinel"); err != nil {
				return fmt.Errorf("sentinel %s: sentinel %w", addr, err)
			}
		}
	}
	return nil
}

// knownAs checks that the SENTINEL REPLICAS or SENTINEL SENTINELS reply known lists addr with flags exactly flag:
// no s_down, o_down or disconnected.
func knownAs(known []map[string]string, addr, flag string) error {
	for _, m := range known {
		if net.JoinHostPort(m["ip"], m["port"]) == addr {
			if m["flags"] != flag {
				return fmt.Errorf("%s has flags %s, want %s", addr, m["flags"], flag)
			}
			return nil
		}
	}
	return fmt.Errorf("%s is unknown", addr)
}

// dataHealthy checks that primary is a master and every other live data node replicates it with its link up.
func (s *Sentinel) dataHealthy(ctx context.Context, primary string) error {
	if err := s.isMaster(ctx, primary); err != nil {
		return err
	}
	for _, addr := range s.live(s.Addrs) {
		if addr == primary {
			continue
		}
		info, err := replicationInfo(ctx, s.clients[addr])
		if err != nil {
			return fmt.Errorf("%s: %w", addr, err)
		}
		if info["role"] != "slave" {
			return fmt.Errorf("%s: role:%s, want slave of %s", addr, info["role"], primary)
		}
		if master := net.JoinHostPort(info["master_host"], info["master_port"]); master != primary {
			return fmt.Errorf("%s replicates %s, want %s", addr, master, primary)
		}
		if info["master_link_status"] != "up" {
			return fmt.Errorf("%s: master_link_status:%s to %s", addr, info["master_link_status"], primary)
		}
	}
	return nil
}

// configQuote quotes s as a redis.conf argument, so that a path with spaces stays one argument.
func configQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// pointAt makes the config file of the data node at addr say it replicates primary.
func (s *Sentinel) pointAt(addr, primary string) error {
	host, port, err := net.SplitHostPort(primary)
	if err != nil {
		return err
	}
	s.mu.Lock()
	conf := s.servers[addr].args[0]
	s.mu.Unlock()
	raw, err := os.ReadFile(conf)
	if err != nil {
		return err
	}
	var lines []string
	for _, line := range strings.Split(strings.TrimRight(string(raw), "\n"), "\n") {
		if !strings.HasPrefix(strings.ToLower(strings.TrimSpace(line)), "replicaof ") {
			lines = append(lines, line)
		}
	}
	lines = append(lines, "replicaof "+host+" "+port)
	return os.WriteFile(conf, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
}
