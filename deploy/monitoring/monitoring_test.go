// Package monitoring_test holds the alert rules and the Grafana dashboard of deploy/monitoring to the shop they
// watch. Every PromQL expression in alerts.yml and dashboard.json is parsed with Prometheus' own parser, and
// every metric it names must be exported by a real shop (real Postgres and Redis, an order placed, a
// reconcile run) and by a `recordshop writer` process: a metric renamed in the code, or misspelt in a rule, fails
// here instead of leaving an alert that can never fire or a panel that stays empty. readiness_test.go shows that
// recordshop_dependency_ready, which two of the alerts read, follows the stores with nobody asking /readyz.
package monitoring_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cloudwego/hertz/pkg/common/hlog"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/learecordshop/recordshop/dal/testenv"
)

const (
	alertsFile    = "alerts.yml"
	dashboardFile = "dashboard.json"
	readmeFile    = "../../README.md"
)

func TestMain(m *testing.M) {
	hlog.SetLevel(hlog.LevelWarn) // Hertz announces every listener and shutdown at info
	os.Exit(testenv.Main(m))
}

// query is one PromQL expression and where it was found, for the failure messages.
type query struct {
	where string
	expr  string
}

// selector is one series selector of a query: the metric it names and its label matchers.
type selector struct {
	metric   string
	matchers []*labels.Matcher
}

// grouping is an aggregation's `by (...)` labels and the metrics it aggregates: one of those metrics must carry
// each label, or the aggregation folds every series into one without a word.
type grouping struct {
	labels  []string
	metrics []string
}

// reads is what a query reads.
type reads struct {
	selectors []selector
	groupings []grouping
}

// promql parses with the defaults of a Prometheus server: no experimental functions.
var promql = parser.NewParser(parser.Options{})

// parse parses expr and returns what it reads. A selector without a literal metric name
// (`{__name__=~"..."}`) is an error: nothing could check what it reads.
func parse(expr string) (reads, error) {
	ast, err := promql.ParseExpr(expr)
	if err != nil {
		return reads{}, err
	}
	var out reads
	var errs []error
	parser.Inspect(ast, func(node parser.Node, _ []parser.Node) error {
		switch n := node.(type) {
		case *parser.VectorSelector:
			s, err := selectorOf(n)
			if err != nil {
				errs = append(errs, err)
			}
			out.selectors = append(out.selectors, s)
		case *parser.AggregateExpr:
			if n.Without || len(n.Grouping) == 0 {
				return nil
			}
			g := grouping{labels: n.Grouping}
			parser.Inspect(n.Expr, func(inner parser.Node, _ []parser.Node) error {
				if vs, ok := inner.(*parser.VectorSelector); ok {
					s, _ := selectorOf(vs)
					g.metrics = append(g.metrics, s.metric)
				}
				return nil
			})
			out.groupings = append(out.groupings, g)
		}
		return nil
	})
	return out, errors.Join(errs...)
}

// selectorOf is the metric and label matchers of vs.
func selectorOf(vs *parser.VectorSelector) (selector, error) {
	s := selector{metric: vs.Name}
	var err error
	for _, m := range vs.LabelMatchers {
		if m.Name != labels.MetricName {
			s.matchers = append(s.matchers, m)
			continue
		}
		if m.Type != labels.MatchEqual {
			err = fmt.Errorf("selector %s: the metric name must be literal", vs)
		}
		s.metric = m.Value
	}
	if s.metric == "" {
		err = fmt.Errorf("selector %s names no metric", vs)
	}
	return s, err
}

// rulesFile is the part of a Prometheus rule file these rules use; unknown fields are refused, so that a
// misspelt key (`annotation:`, `label:`) fails here as it fails promtool.
type rulesFile struct {
	Groups []struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval"`
		Rules    []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func loadRules(t *testing.T) []rule {
	t.Helper()
	f, err := os.Open(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	var file rulesFile
	if err := dec.Decode(&file); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	var rules []rule
	for _, g := range file.Groups {
		rules = append(rules, g.Rules...)
	}
	if len(rules) == 0 {
		t.Fatalf("%s has no rules", alertsFile)
	}
	return rules
}

// dashboard is the part of a Grafana dashboard these checks read.
type dashboard struct {
	Title         string  `json:"title"`
	UID           string  `json:"uid"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

// variable is a template variable of the dashboard.
type variable struct {
	Name  string    `json:"name"`
	Type  string    `json:"type"`
	Query jsonQuery `json:"query"`
}

type panel struct {
	ID         int              `json:"id"`
	Type       string           `json:"type"`
	Title      string           `json:"title"`
	Datasource *panelDatasource `json:"datasource"`
	Panels     []panel          `json:"panels"` // a collapsed row holds its panels
	Targets    []struct {
		RefID      string           `json:"refId"`
		Expr       string           `json:"expr"`
		Datasource *panelDatasource `json:"datasource"`
	} `json:"targets"`
}

type panelDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// jsonQuery is a template variable's query: a string, or an object with the string in "query".
type jsonQuery string

func (q *jsonQuery) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*q = jsonQuery(s)
		return nil
	}
	var o struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return err
	}
	*q = jsonQuery(o.Query)
	return nil
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// eachPanel calls fn for every panel, those inside collapsed rows included.
func eachPanel(panels []panel, fn func(panel)) {
	for _, p := range panels {
		fn(p)
		eachPanel(p.Panels, fn)
	}
}

// grafanaIntervals are the built-in variables Grafana replaces inside a query before Prometheus sees it; a
// duration of the same shape stands in for each, so that the query parses as Prometheus will get it.
var grafanaIntervals = strings.NewReplacer(
	"${__rate_interval}", "5m", "$__rate_interval", "5m",
	"${__interval}", "1m", "$__interval", "1m",
	"${__range}", "1h", "$__range", "1h",
)

// labelValues is Grafana's label_values(selector, label) variable query; the selector is PromQL.
var labelValues = regexp.MustCompile(`^label_values\((.+),\s*([A-Za-z_][A-Za-z0-9_]*)\)$`)

// queries returns every PromQL expression of alerts.yml and dashboard.json, with where it is.
func queries(t *testing.T) []query {
	t.Helper()
	var out []query
	for _, r := range loadRules(t) {
		out = append(out, query{where: alertsFile + ": " + r.Alert + r.Record, expr: r.Expr})
	}
	d := loadDashboard(t)
	eachPanel(d.Panels, func(p panel) {
		for _, tg := range p.Targets {
			out = append(out, query{where: fmt.Sprintf("%s: panel %q, query %s", dashboardFile, p.Title, tg.RefID),
				expr: grafanaIntervals.Replace(tg.Expr)})
		}
	})
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		where := fmt.Sprintf("%s: variable %q", dashboardFile, v.Name)
		m := labelValues.FindStringSubmatch(string(v.Query))
		if m == nil {
			t.Errorf("%s: query %q is not label_values(selector, label), the one form these checks read", where, v.Query)
			continue
		}
		out = append(out, query{where: where, expr: m[1]})
	}
	return out
}

func TestAlertRules(t *testing.T) {
	anchors := readmeAnchors(t)
	runbookLink := regexp.MustCompile(`README\.md#([a-z0-9-]+)`)
	seen := map[string]bool{}
	for _, r := range loadRules(t) {
		t.Run(r.Alert+r.Record, func(t *testing.T) {
			if r.Alert == "" {
				t.Fatalf("a rule without alert (recording rules do not belong here): %+v", r)
			}
			if seen[r.Alert] {
				t.Errorf("alert %s defined twice", r.Alert)
			}
			seen[r.Alert] = true
			if _, err := parse(r.Expr); err != nil {
				t.Errorf("expr does not parse: %v\n%s", err, r.Expr)
			}
			if r.For != "" {
				if _, err := model.ParseDuration(r.For); err != nil {
					t.Errorf("for %q: %v", r.For, err)
				}
			}
			if s := r.Labels["severity"]; s != "page" && s != "ticket" {
				t.Errorf("severity %q; want page or ticket", s)
			}
			if strings.TrimSpace(r.Annotations["summary"]) == "" {
				t.Error("no summary annotation")
			}
			runbook := r.Annotations["runbook"]
			if strings.TrimSpace(runbook) == "" || strings.Contains(runbook, "\n") {
				t.Errorf("runbook %q; want one line that says what to do", runbook)
			}
			m := runbookLink.FindStringSubmatch(runbook)
			if m == nil {
				t.Errorf("runbook %q names no README.md#section", runbook)
			} else if !anchors[m[1]] {
				t.Errorf("runbook links README.md#%s, which is no heading of the README", m[1])
			}
		})
	}
	// The brief of the pack: each of these is something an operator must hear about.
	for _, name := range []string{"RecordshopDown", "RecordshopRedisNotReady", "RecordshopPostgresNotReady",
		"RecordshopHighErrorRatio", "RecordshopWriterLagHigh", "RecordshopWriterBacklogNearBound",
		"RecordshopDeadLetters", "RecordshopReconcileDrift", "RecordshopReconcileNotClean"} {
		if !seen[name] {
			t.Errorf("%s lacks the alert %s", alertsFile, name)
		}
	}
}

func TestDashboard(t *testing.T) {
	d := loadDashboard(t)
	if d.Title == "" || d.UID == "" || d.SchemaVersion < 36 {
		t.Errorf("title %q, uid %q, schemaVersion %d; want a title, a uid and a schema of Grafana 10 or later", d.Title, d.UID, d.SchemaVersion)
	}
	hasDatasource := slices.ContainsFunc(d.Templating.List, func(v variable) bool {
		return v.Type == "datasource" && v.Name == "datasource" && v.Query == "prometheus"
	})
	if !hasDatasource {
		t.Error("no datasource variable of type prometheus named datasource: the dashboard would be tied to one Grafana")
	}
	ids := map[int]string{}
	panels := 0
	eachPanel(d.Panels, func(p panel) {
		if other, ok := ids[p.ID]; ok {
			t.Errorf("panels %q and %q share the id %d", other, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		if p.Type == "row" {
			return
		}
		panels++
		if p.Title == "" {
			t.Errorf("panel %d has no title", p.ID)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %+v; want the ${datasource} variable", p.Title, p.Datasource)
		}
		for _, tg := range p.Targets {
			if tg.Datasource != nil && tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q, query %s: datasource %+v; want the ${datasource} variable", p.Title, tg.RefID, tg.Datasource)
			}
		}
	})
	if panels == 0 {
		t.Fatal("the dashboard has no panels")
	}
	for _, q := range queries(t) {
		if !strings.HasPrefix(q.where, dashboardFile) {
			continue
		}
		if _, err := parse(q.expr); err != nil {
			t.Errorf("%s does not parse: %v\n%s", q.where, err, q.expr)
		}
	}
}

// readmeAnchors are the GitHub anchors of the README's headings ("## Operators: reconcile" ->
// "operators-reconcile").
func readmeAnchors(t *testing.T) map[string]bool {
	t.Helper()
	f, err := os.Open(readmeFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	anchors := map[string]bool{}
	fence := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			fence = !fence
		}
		if fence || !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
		var b strings.Builder
		for _, r := range title {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
				b.WriteRune(r)
			}
		}
		anchors[b.String()] = true
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return anchors
}

// sortedKeys is for stable failure messages.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
