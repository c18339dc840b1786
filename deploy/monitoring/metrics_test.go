package monitoring_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/learecordshop/recordshop/dal/testenv"
)

// synthetic are series Prometheus makes itself for every target, not the shop.
var synthetic = map[string]bool{"up": true}

// targetLabels are put on every series by Prometheus, from the scrape config.
var targetLabels = map[string]bool{"job": true, "instance": true}

// outcomeLabels hold what happened (a status, a reconcile result, a partition, a bucket), whose values one test
// cannot all produce: for these the label must exist and its values are left alone. Every other label (method,
// route, dependency) names something every shop has, so an equality matcher on it must match a series.
var outcomeLabels = map[string]bool{"status": true, "result": true, "partition": true, "le": true}

// source is one process's /metrics.
type source struct {
	name string
	got  exported
}

// unexported checks each query against what the processes export: every metric it reads by serve (api), the
// writer's also by a `recordshop writer` process (writer), with the labels it matches on and groups by. It
// returns one line per problem.
func unexported(qs []query, api, writer exported) []string {
	var problems []string
	sourcesOf := func(metric string) []source {
		if strings.HasPrefix(metric, "recordshop_writer_") {
			return []source{{"recordshop serve", api}, {"recordshop writer", writer}}
		}
		return []source{{"recordshop serve", api}}
	}
	for _, q := range qs {
		r, err := parse(q.expr)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", q.where, err))
			continue
		}
		for _, s := range r.selectors {
			if synthetic[s.metric] {
				continue
			}
			for _, src := range sourcesOf(s.metric) {
				problems = append(problems, checkSelector(q.where, s, src)...)
			}
		}
		for _, g := range r.groupings {
			for _, label := range g.labels {
				carried := targetLabels[label] || slices.ContainsFunc(g.metrics, func(m string) bool {
					return synthetic[m] || api[m][label] != nil
				})
				if !carried {
					problems = append(problems, fmt.Sprintf("%s: groups by %q, which none of %v carries", q.where, label, g.metrics))
				}
			}
		}
	}
	return problems
}

// checkSelector checks one selector against one process's metrics.
func checkSelector(where string, s selector, src source) []string {
	series, ok := src.got[s.metric]
	if !ok {
		return []string{fmt.Sprintf("%s: %s is not exported by %s", where, s.metric, src.name)}
	}
	var problems []string
	for _, m := range s.matchers {
		if targetLabels[m.Name] {
			continue
		}
		values, ok := series[m.Name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s: %s has no label %q in %s (it has %v)", where, s.metric, m.Name, src.name, sortedKeys(series)))
		case m.Type == labels.MatchEqual && !outcomeLabels[m.Name] && !values[m.Value]:
			problems = append(problems, fmt.Sprintf("%s: %s has no series with %s=%q in %s (it has %v)", where, s.metric, m.Name, m.Value, src.name, sortedKeys(values)))
		}
	}
	return problems
}

// TestEveryMetricIsExported runs a shop as serve runs it (writer in process) and a writer alone as `recordshop
// writer` runs it, sells a disc and reconciles, then holds every query of alerts.yml and dashboard.json to what
// the two serve on /metrics.
func TestEveryMetricIsExported(t *testing.T) {
	qs := queries(t)
	s := freshStores(t)
	shop := startShop(t, deps(t, s))
	writer := startWriter(t, deps(t, s))

	// One sale, so that the labelled series (route and status of the order path, the writer's partitions)
	// exist, the writer lands an order, and a reconcile checks it.
	var disc, customer struct {
		ID int64 `json:"id"`
	}
	if st := shop.call(t, http.MethodPost, "/v1/discs", adminToken, map[string]any{"name": "We are Reactive", "artist": "Hohpe",
		"release_year": 2022, "style": "Indie", "price_cents": 4990, "stock": 10}, &disc); st != http.StatusCreated {
		t.Fatalf("create disc: status %d", st)
	}
	if st := shop.call(t, http.MethodPost, "/v1/customers", storefrontToken, map[string]any{"document": "529.982.247-25",
		"name": "Lea Leitora", "email": "lea@example.com", "birth_date": "1990-05-17"}, &customer); st != http.StatusCreated {
		t.Fatalf("create customer: status %d", st)
	}
	if st := shop.call(t, http.MethodPost, "/v1/orders", storefrontToken, map[string]any{"customer_id": customer.ID,
		"disc_id": disc.ID, "quantity": 1}, nil); st != http.StatusCreated {
		t.Fatalf("place order: status %d", st)
	}
	testenv.Eventually(t, 20*time.Second, "no writer put the order in Postgres", func() (bool, string) {
		_, a := scrape(t, shop.base)
		_, w := scrape(t, writer)
		n := sum(a, "recordshop_writer_orders_flushed_total") + sum(w, "recordshop_writer_orders_flushed_total")
		return n >= 1, fmt.Sprintf("%v orders flushed", n)
	})
	if st := shop.call(t, http.MethodGet, "/v1/admin/reconcile", adminToken, nil, nil); st != http.StatusOK {
		t.Fatalf("reconcile: status %d", st)
	}

	var api, w exported
	// The writers set their backlog series after a read of their streams, a moment after they start.
	testenv.Eventually(t, 10*time.Second, "alerts.yml and dashboard.json read metrics that the shop does not export", func() (bool, string) {
		api, _ = scrape(t, shop.base)
		w, _ = scrape(t, writer)
		problems := unexported(qs, api, w)
		return len(problems) == 0, "\n" + strings.Join(problems, "\n")
	})

	// The check itself must see a renamed metric, a renamed label and a route that is not there.
	for _, bad := range []query{
		{"a renamed metric", `rate(recordshop_http_request_total[5m])`},
		{"a renamed writer metric", `recordshop_writer_backlogs`},
		{"a renamed label", `sum by (code) (rate(recordshop_http_requests_total[5m]))`},
		{"a matcher on a label that is not there", `recordshop_writer_backlog{shard="1"}`},
		{"a route that does not exist", `recordshop_http_requests_total{route="/v1/order"}`},
	} {
		if got := unexported([]query{bad}, api, w); len(got) == 0 {
			t.Errorf("%s (%s): the check found nothing wrong", bad.where, bad.expr)
		}
	}
}
