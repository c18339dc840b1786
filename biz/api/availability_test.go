package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	goredis "github.com/redis/go-redis/v9"

	"github.com/learecordshop/recordshop/biz/api"
	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/dal/testenv"
)

// TestDiscAvailabilityIsUnknownWhileRedisIsDown: while Redis cannot be read, a disc on sale answers
// "available": null and "availability": "unknown", in GET /v1/discs/{id} and in the list alike, never
// Postgres' stock in place of the live count: on a launch day that stock lags Redis by every order the
// writer has not recorded, and would show a sold-out disc as in stock. An archived disc still answers 0, and
// every other member of a disc is the same as before. Redis is either stopped for the client (closed) or
// unreachable (its connections cut and new ones refused); an unreachable Redis that comes back is read again.
func TestDiscAvailabilityIsUnknownWhileRedisIsDown(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		down    func(*testAPI, *redisCut)
		restore func(*redisCut) // nil: Redis stays down
	}{
		{"redis client closed", func(a *testAPI, _ *redisCut) { a.redis.Close() }, nil},
		{"redis unreachable", func(_ *testAPI, c *redisCut) { c.cut() }, (*redisCut).restore},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cut := newRedisCut(t)
			a, _ := build(t, serving{tune: func(d *api.Deps) { cut.install(d.Redis) }})
			onSale := a.createDisc(t, discBody("We are Reactive", "Hohpe", 2026, "Jazz", 10))
			gone := a.createDisc(t, discBody("Blue Train", "John Coltrane", 1957, "Jazz", 5))
			buyer := a.createCustomer(t, customerBody(1))
			a.insertOrder(t, buyer.ID, gone.ID, 1)
			decode[model.Disc](t, a.call(t, http.MethodDelete, discPath(gone.ID), adminToken, nil), http.StatusOK) // archived
			// No writer runs: the order stays in Redis, so the live count (8) and Postgres' stock (10) differ,
			// as they do through a launch.
			res := a.call(t, http.MethodPost, "/v1/orders", storefrontToken, obj{"customer_id": buyer.ID, "disc_id": onSale.ID, "quantity": 2})
			if res.status != http.StatusCreated {
				t.Fatalf("order: %s", res)
			}

			liveOnSale := availabilityOf(t, a, onSale.ID)
			liveGone := availabilityOf(t, a, gone.ID)
			if liveOnSale.Available == nil || *liveOnSale.Available != 8 || liveOnSale.Availability != "live" || liveOnSale.Disc.Stock != 10 {
				t.Fatalf("with Redis up: %s; want available 8 (live), stock 10", liveOnSale)
			}
			if liveGone.Available == nil || *liveGone.Available != 0 || liveGone.Availability != "live" {
				t.Fatalf("archived disc with Redis up: %s; want available 0 (live)", liveGone)
			}

			tt.down(a, cut)
			unknown := liveOnSale.Disc
			unknown.Availability = model.AvailabilityUnknown
			unknown.Available = 0 // null decodes as nothing
			got := availabilityOf(t, a, onSale.ID)
			if got.Available != nil || got.Availability != "unknown" {
				t.Errorf("GET a disc on sale with Redis down: %s; want available null, availability unknown", got)
			}
			if diff := cmp.Diff(unknown, got.Disc); diff != "" {
				t.Errorf("GET a disc on sale with Redis down changed more than its availability (-want +got):\n%s", diff)
			}
			if got := availabilityOf(t, a, gone.ID); !cmp.Equal(got, liveGone) {
				t.Errorf("GET an archived disc with Redis down: %s; want it as before, %s", got, liveGone)
			}
			for path, want := range map[string]discAvailability{"/v1/discs": {Disc: unknown, Availability: "unknown"},
				"/v1/discs?archived=true": liveGone} {
				items := listAvailability(t, a, path)
				if len(items) != 1 || !cmp.Equal(items[0], want) {
					t.Errorf("GET %s with Redis down: %v; want one disc, %s", path, items, want)
				}
			}

			if tt.restore == nil {
				return
			}
			tt.restore(cut)
			testenv.Eventually(t, 10*time.Second, "the live count after Redis came back", func() (bool, string) {
				got := availabilityOf(t, a, onSale.ID)
				return cmp.Equal(got, liveOnSale), got.String()
			})
		})
	}
}

func discPath(id int64) string { return "/v1/discs/" + strconv.FormatInt(id, 10) }

// discAvailability is a disc as answered, with its available and availability members as they were sent.
type discAvailability struct {
	Disc         model.Disc
	Available    *int64 // nil: null
	Availability string
}

func (d discAvailability) String() string {
	avail := "null"
	if d.Available != nil {
		avail = strconv.FormatInt(*d.Available, 10)
	}
	return "disc " + strconv.FormatInt(d.Disc.ID, 10) + ": available " + avail + ", availability " + d.Availability +
		", stock " + strconv.FormatInt(d.Disc.Stock, 10)
}

func availabilityOf(t *testing.T, a *testAPI, id int64) discAvailability {
	t.Helper()
	res := a.call(t, http.MethodGet, discPath(id), "", nil)
	return readAvailability(t, decode[json.RawMessage](t, res, http.StatusOK))
}

func listAvailability(t *testing.T, a *testAPI, path string) []discAvailability {
	t.Helper()
	l := decode[model.List[json.RawMessage]](t, a.call(t, http.MethodGet, path, "", nil), http.StatusOK)
	out := make([]discAvailability, len(l.Items))
	for i, raw := range l.Items {
		out[i] = readAvailability(t, raw)
	}
	return out
}

// readAvailability reads one disc strictly (no member the model does not know), and its two availability
// members as sent: both must be there, available as a number or null.
func readAvailability(t *testing.T, raw json.RawMessage) discAvailability {
	t.Helper()
	var d discAvailability
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d.Disc); err != nil {
		t.Fatalf("decode disc: %v: %s", err, raw)
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		t.Fatal(err)
	}
	avail, ok := members["available"]
	if err := json.Unmarshal(members["availability"], &d.Availability); !ok || err != nil {
		t.Fatalf("disc without available, or without availability as a string (%v): %s", err, raw)
	}
	if string(avail) != "null" {
		n, err := strconv.ParseInt(string(avail), 10, 64)
		if err != nil {
			t.Fatalf("available %s is neither a whole number nor null", avail)
		}
		d.Available = &n
	}
	return d
}

// redisCut makes the API's Redis unreachable on demand, as a Redis that went away does: it closes every
// connection the client opened and sends the client's new connections to a port nobody listens on, so that
// commands fail with the network's errors (connection refused), not with a closed client.
type redisCut struct {
	refusing string // host:port of a closed port

	mu    sync.Mutex
	down  bool
	conns []net.Conn
}

func newRedisCut(t *testing.T) *redisCut {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return &redisCut{refusing: addr}
}

// install puts the cut between client and its Redis: on a cluster, between each node's client and its node.
func (c *redisCut) install(client goredis.UniversalClient) {
	if cluster, ok := client.(*goredis.ClusterClient); ok {
		cluster.OnNewNode(func(node *goredis.Client) { node.AddHook(c) })
		return
	}
	client.AddHook(c)
}

func (c *redisCut) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down = true
	for _, conn := range c.conns {
		_ = conn.Close()
	}
	c.conns = nil
}

func (c *redisCut) restore() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down = false
}

func (c *redisCut) DialHook(next goredis.DialHook) goredis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.down {
			return next(ctx, network, c.refusing)
		}
		conn, err := next(ctx, network, addr)
		if err == nil {
			c.conns = append(c.conns, conn)
		}
		return conn, err
	}
}

func (c *redisCut) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook { return next }

func (c *redisCut) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return next
}
