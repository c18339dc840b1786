package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Topology is how the shop reaches Redis: one server (URL), a Redis Cluster (Cluster, any of its nodes) or a
// Sentinel-managed primary (Sentinels and Master). Exactly one is set. Every part of the shop takes the
// client NewClient makes from it as a goredis.UniversalClient and never asks which one it is; only this
// package looks underneath, where a topology needs it (the replication wait, one call per node).
type Topology struct {
	URL string // redis://[user:password@]host:port/db, rediss:// for TLS
	// Cluster and Sentinels hold host:port items; an item may instead be a redis:// or rediss:// URL, whose
	// user, password and TLS then apply to every node (the URL items must agree on them).
	Cluster   []string
	Sentinels []string
	Master    string // the Sentinel master name
}

// The topologies, as Kind names them.
const (
	KindServer   = "server"
	KindCluster  = "cluster"
	KindSentinel = "sentinel"
)

// Kind names the topology; "" when none or several are set.
func (t Topology) Kind() string {
	set := 0
	kind := ""
	if t.URL != "" {
		set, kind = set+1, KindServer
	}
	if len(t.Cluster) > 0 {
		set, kind = set+1, KindCluster
	}
	if len(t.Sentinels) > 0 || t.Master != "" {
		set, kind = set+1, KindSentinel
	}
	if set != 1 {
		return ""
	}
	return kind
}

// Validate checks that exactly one topology is set and that its addresses can be read. Its messages name the
// RS_* variables, which are how people set a topology.
func (t Topology) Validate() error {
	switch t.Kind() {
	case "":
		return errors.New("set exactly one of RS_REDIS_URL, RS_REDIS_CLUSTER_ADDRS or RS_REDIS_SENTINEL_ADDRS (with RS_REDIS_SENTINEL_MASTER)")
	case KindServer:
		_, err := Options(t.URL)
		return err
	case KindCluster:
		_, err := clusterOptions(t.Cluster)
		return err
	default:
		if t.Master == "" || len(t.Sentinels) == 0 {
			return errors.New("RS_REDIS_SENTINEL_ADDRS and RS_REDIS_SENTINEL_MASTER go together")
		}
		_, err := failoverOptions(t.Sentinels, t.Master)
		return err
	}
}

// String is the topology for logs: its kind and addresses, never a password.
func (t Topology) String() string {
	switch t.Kind() {
	case KindServer:
		return redactURL(t.URL)
	case KindCluster:
		return "cluster " + strings.Join(redactItems(t.Cluster), ",")
	case KindSentinel:
		return "sentinel " + t.Master + "@" + strings.Join(redactItems(t.Sentinels), ",")
	}
	return "(no redis topology)"
}

// poolSize is the connections per server: the writer keeps one blocking read per partition, and the order
// path needs room beside them.
const poolSize = 128

// Options parses url (redis://host:port/db) into client options with recordshop's defaults.
func Options(url string) (*goredis.Options, error) {
	opts, err := goredis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis: parse url: %w", err)
	}
	if opts.PoolSize == 0 {
		opts.PoolSize = poolSize
	}
	// A deadline on the context bounds the command at the socket, go-redis' own resends included (a resend
	// starts only while the deadline is ahead). Without this go-redis ignores deadlines and waits ReadTimeout
	// per attempt. The order path sets a short one (service.OrderConfig.RedisTimeout); calls without a
	// deadline keep ReadTimeout, and a blocking read (the writer's XREADGROUP BLOCK) gets its block time plus
	// 10 s from go-redis whatever ReadTimeout is, so neither changes for them.
	opts.ContextTimeoutEnabled = true
	// Maintenance notifications are a managed-cloud feature; on a plain server the client only logs that it
	// could not enable them.
	opts.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return opts, nil
}

// nodes reads host:port items and redis(s):// URL items into addresses and the credentials and TLS the URL
// items carry.
type nodes struct {
	addrs    []string
	username string
	password string
	tls      *tls.Config
}

func parseNodes(items []string) (nodes, error) {
	var n nodes
	var first *goredis.Options
	for _, item := range items {
		item = strings.TrimSpace(item)
		if !strings.Contains(item, "://") {
			if _, _, err := net.SplitHostPort(item); err != nil {
				return nodes{}, fmt.Errorf("redis: node %q is not host:port or a redis:// URL", item)
			}
			n.addrs = append(n.addrs, item)
			continue
		}
		o, err := goredis.ParseURL(item)
		if err != nil {
			return nodes{}, fmt.Errorf("redis: node %s: %w", redactURL(item), err)
		}
		if o.DB != 0 {
			return nodes{}, fmt.Errorf("redis: node %s: a cluster or Sentinel node has database 0 only", redactURL(item))
		}
		if first == nil {
			first = o
			n.username, n.password, n.tls = o.Username, o.Password, o.TLSConfig
		} else if o.Username != first.Username || o.Password != first.Password || (o.TLSConfig == nil) != (first.TLSConfig == nil) {
			return nodes{}, errors.New("redis: the URL items name different users, passwords or TLS; every node takes the same")
		}
		n.addrs = append(n.addrs, o.Addr)
	}
	if len(n.addrs) == 0 {
		return nodes{}, errors.New("redis: no node addresses")
	}
	return n, nil
}

func clusterOptions(items []string) (*goredis.ClusterOptions, error) {
	n, err := parseNodes(items)
	if err != nil {
		return nil, err
	}
	return &goredis.ClusterOptions{Addrs: n.addrs, Username: n.username, Password: n.password, TLSConfig: n.tls,
		PoolSize: poolSize, ContextTimeoutEnabled: true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
		// The client learns of a failover from the redirect a live node answers; a dead primary only refuses
		// connections, so the slot map is also reloaded on a clock (go-redis' default is a minute).
		ClusterStateReloadInterval: 2 * time.Second}, nil
}

func failoverOptions(items []string, master string) (*goredis.FailoverOptions, error) {
	n, err := parseNodes(items)
	if err != nil {
		return nil, err
	}
	// The Sentinels and the servers they manage share the credentials, as Redis' own docs set them up.
	return &goredis.FailoverOptions{MasterName: master, SentinelAddrs: n.addrs, Username: n.username,
		Password: n.password, SentinelUsername: n.username, SentinelPassword: n.password, TLSConfig: n.tls,
		PoolSize: poolSize, ContextTimeoutEnabled: true}, nil
}

// NewClient returns the client of t, without connecting.
func NewClient(t Topology) (goredis.UniversalClient, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	switch t.Kind() {
	case KindCluster:
		o, _ := clusterOptions(t.Cluster)
		return goredis.NewClusterClient(o), nil
	case KindSentinel:
		o, _ := failoverOptions(t.Sentinels, t.Master)
		return goredis.NewFailoverClient(o), nil
	}
	o, _ := Options(t.URL)
	return goredis.NewClient(o), nil
}

// Connect opens the client of t and checks that Redis answers (on a cluster: every primary, so that a missing
// slot owner shows at start rather than on the first order).
func Connect(ctx context.Context, t Topology) (goredis.UniversalClient, error) {
	client, err := NewClient(t)
	if err != nil {
		return nil, err
	}
	if c, ok := client.(*goredis.ClusterClient); ok {
		err = c.ForEachMaster(ctx, func(ctx context.Context, n *goredis.Client) error { return n.Ping(ctx).Err() })
	} else {
		err = client.Ping(ctx).Err()
	}
	if err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("redis.connect: %s: ping: %w", t, err)
	}
	return client, nil
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return "(unparsable url)"
	}
	return u.Redacted()
}

func redactItems(items []string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it
		if strings.Contains(it, "://") {
			out[i] = redactURL(it)
		}
	}
	return out
}
