package monitoring_test

import (
	"fmt"
	"maps"
	"net/http"
	"testing"
	"time"

	"github.com/learecordshop/recordshop/dal/pg"
	rsredis "github.com/learecordshop/recordshop/dal/redis"
	"github.com/learecordshop/recordshop/dal/testenv"
)

// proxiedStores are stores the shop reaches through a proxy each, which the test can cut.
type proxiedStores struct {
	stores
	proxies map[string]*proxy // by dependency: "postgres", "redis"
}

func newProxiedStores(t *testing.T) proxiedStores {
	t.Helper()
	if testenv.ClusterPass() {
		t.Skip("the proxy stands in for one Redis server; the one-server pass runs this test")
	}
	pgURL := testenv.PGURL(t)
	redisURL := testenv.RedisTopology(t).URL
	_, prefix := testenv.Redis(t) // its cleanup removes the prefix's keys
	ps := proxiedStores{proxies: map[string]*proxy{
		"postgres": newProxy(t, hostPort(t, pgURL)),
		"redis":    newProxy(t, hostPort(t, redisURL)),
	}}
	pool, err := pg.Connect(t.Context(), ps.proxies["postgres"].via(t, pgURL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	rdb, err := rsredis.NewClient(rsredis.Topology{URL: ps.proxies["redis"].via(t, redisURL)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	ps.stores = stores{pool: pool, redis: rdb, prefix: prefix}
	return ps
}

// ready is recordshop_dependency_ready of each dependency on the shop's /metrics (-1 when it has no series).
func ready(t *testing.T, s *shop) map[string]float64 {
	t.Helper()
	_, families := scrape(t, s.base)
	out := map[string]float64{"postgres": -1, "redis": -1}
	for _, m := range families["recordshop_dependency_ready"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "dependency" {
				out[l.GetValue()] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

// waitReady waits until recordshop_dependency_ready reads want for both dependencies.
func waitReady(t *testing.T, s *shop, want map[string]float64) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, fmt.Sprintf("recordshop_dependency_ready did not become %v", want), func() (bool, string) {
		got := ready(t, s)
		return maps.Equal(got, want), fmt.Sprint(got)
	})
}

func TestDependencyReadyFollowsTheStores(t *testing.T) {
	for _, tt := range []struct{ dep, other string }{{"redis", "postgres"}, {"postgres", "redis"}} {
		// Nothing asks /readyz here: the probe alone must notice.
		t.Run(tt.dep+"/probe", func(t *testing.T) {
			ps := newProxiedStores(t)
			d := deps(t, ps.stores)
			d.ReadyInterval = 50 * time.Millisecond
			s := startShop(t, d)
			waitReady(t, s, map[string]float64{tt.dep: 1, tt.other: 1})

			ps.proxies[tt.dep].cut()
			waitReady(t, s, map[string]float64{tt.dep: 0, tt.other: 1})

			ps.proxies[tt.dep].restore()
			waitReady(t, s, map[string]float64{tt.dep: 1, tt.other: 1})
		})
		// The probe runs once, at start; every later change comes from /readyz.
		t.Run(tt.dep+"/readyz", func(t *testing.T) {
			ps := newProxiedStores(t)
			d := deps(t, ps.stores)
			d.ReadyInterval = time.Hour
			s := startShop(t, d)
			waitReady(t, s, map[string]float64{tt.dep: 1, tt.other: 1})

			ps.proxies[tt.dep].cut()
			if got := ready(t, s); got[tt.dep] != 1 {
				t.Fatalf("%s cut, before any /readyz and with no probe due: %v; want still 1", tt.dep, got)
			}
			if st := s.call(t, http.MethodGet, "/readyz", "", nil, nil); st != http.StatusServiceUnavailable {
				t.Fatalf("/readyz with %s cut: %d; want 503", tt.dep, st)
			}
			if got := ready(t, s); got[tt.dep] != 0 || got[tt.other] != 1 {
				t.Errorf("after /readyz answered 503 for %s: %v; want %s 0, %s 1", tt.dep, got, tt.dep, tt.other)
			}

			ps.proxies[tt.dep].restore()
			testenv.Eventually(t, 10*time.Second, "/readyz did not answer 200 once "+tt.dep+" was back", func() bool {
				return s.call(t, http.MethodGet, "/readyz", "", nil, nil) == http.StatusOK
			})
			if got := ready(t, s); got[tt.dep] != 1 || got[tt.other] != 1 {
				t.Errorf("after /readyz answered 200: %v; want both 1", got)
			}
		})
	}
}
