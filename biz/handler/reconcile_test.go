package handler

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/cloudwego/hertz/pkg/app/server"
	"github.com/cloudwego/hertz/pkg/common/config"
	"github.com/cloudwego/hertz/pkg/common/ut"
	"github.com/cloudwego/hertz/pkg/route"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.uber.org/zap"

	"github.com/learecordshop/recordshop/biz/problem"
)

// TestReconcileNotApplicableInPostgresMode: a shop that reserves in Postgres only answers the reconcile
// endpoints with 409 not-applicable, each answer naming its own request.
func TestReconcileNotApplicableInPostgresMode(t *testing.T) {
	h := &Handler{reconcile: NotReconcilable{}, log: zap.NewNop()}
	e := route.NewEngine(config.NewOptions([]config.Option{server.WithDisablePrintRoute(true)}))
	e.GET("/v1/admin/reconcile", h.Reconcile)
	e.POST("/v1/admin/reconcile", h.Reconcile)
	for _, r := range []struct{ method, path string }{
		{http.MethodGet, "/v1/admin/reconcile"},
		{http.MethodGet, "/v1/admin/reconcile?disc=3"},
		{http.MethodPost, "/v1/admin/reconcile?fix=true"},
	} {
		res := ut.PerformRequest(e, r.method, r.path, nil).Result()
		if res.StatusCode() != http.StatusConflict || string(res.Header.ContentType()) != problem.ContentType {
			t.Fatalf("%s %s: %d %s; want 409 %s", r.method, r.path, res.StatusCode(), res.Header.ContentType(), problem.ContentType)
		}
		var got problem.Problem
		if err := json.Unmarshal(res.Body(), &got); err != nil {
			t.Fatal(err)
		}
		want := problem.Problem{Type: problem.TypePrefix + "not-applicable", Title: "Nothing to reconcile", Status: http.StatusConflict,
			Detail: "This deployment reserves in Postgres only (RS_RESERVE_MODE=postgres).", Instance: "/v1/admin/reconcile"}
		if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(problem.Problem{})); diff != "" {
			t.Fatalf("%s %s: problem (-want +got):\n%s", r.method, r.path, diff)
		}
	}
}
