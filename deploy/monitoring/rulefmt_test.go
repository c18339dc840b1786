package monitoring_test

import (
	"log/slog"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// TestAlertRulesPassPromtoolsCheck validates alerts.yml with the code `promtool check rules` runs (rulefmt:
// the rule groups' shape, unknown fields refused, every expression parsed, every template compiled), so that
// `make test` holds the rules without building promtool, a build of several minutes; `make monitoring-check` runs
// promtool itself, with the rules' unit tests.
func TestAlertRulesPassPromtoolsCheck(t *testing.T) {
	groups, errs := rulefmt.ParseFile("alerts.yml", false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Error(err)
	}
	if len(errs) == 0 && (groups == nil || len(groups.Groups) == 0) {
		t.Fatal("alerts.yml holds no rule group")
	}
}
