package api_test

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/cloudwego/hertz/pkg/common/hlog"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/learecordshop/recordshop/biz/edge"
	"github.com/learecordshop/recordshop/biz/model"
)

// TestNoPersonalDataInLogs drives a served API at debug level, Hertz's own log included, through every route
// that takes a customer's personal data, right and wrong (refusals, conflicts, malformed framing that carries
// the data), and asserts that no log line holds the email, the CPF in either spelling, the name, the phone or
// a bearer token.
//
// Not parallel: Hertz's logger is one per process, and this test points it at its own observer.
func TestNoPersonalDataInLogs(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(core)
	hlog.SetOutput(edge.FrameworkLog(log))
	t.Cleanup(func() { hlog.SetOutput(os.Stderr) })
	a := serve(t, serving{background: true, log: log})

	const (
		name  = "Zuleika Piimarker"
		email = "zuleika.piimarker@example.com"
		cpf   = "52998224725"
		phone = "11987654329"
	)
	secrets := []string{name, "Zuleika", "Piimarker", email, "zuleika.piimarker", cpf, formatCPF(cpf), phone, "98765-4329",
		adminToken, storefrontToken}
	body := obj{"document": formatCPF(cpf), "name": name, "email": strings.ToUpper(email), "phone": "(11) 98765-4329",
		"birth_date": "1990-05-17"}
	c := decode[model.Customer](t, a.call(t, http.MethodPost, "/v1/customers", storefrontToken, body), http.StatusCreated)
	path := fmt.Sprintf("/v1/customers/%d", c.ID)
	disc := a.createDisc(t, discBody("Kind of Blue", "Davis", 1959, "Jazz", 5))

	steps := []request{
		{method: http.MethodPost, path: "/v1/customers", token: storefrontToken, body: mustJSON(t, body)}, // 409
		{method: http.MethodPost, path: "/v1/customers", token: storefrontToken, body: mustJSON(t, body.with("birth_date", "2999-01-01"))},
		{method: http.MethodPost, path: "/v1/customers", token: storefrontToken, body: []byte(`{"name":"` + name + `","email":"` + email + `"`)},
		{method: http.MethodPost, path: "/v1/customers", token: storefrontToken, body: mustJSON(t, body.with("nme", name))},
		{method: http.MethodGet, path: path, token: storefrontToken, header: map[string]string{"X-Request-Id": email}},
		{method: http.MethodPatch, path: path, token: storefrontToken, body: mustJSON(t, obj{"name": name, "phone": phone})},
		{method: http.MethodPatch, path: path, token: storefrontToken, body: mustJSON(t, obj{"email": email + "\u202e"})},
		{method: http.MethodGet, path: "/v1/customers?email=" + url.QueryEscape(email) + "&name=" + url.QueryEscape(name), token: adminToken},
		{method: http.MethodGet, path: "/v1/customers?document=" + cpf, token: adminToken},
		{method: http.MethodGet, path: "/v1/customers?document=" + cpf + "0", token: adminToken},
		{method: http.MethodGet, path: "/v1/customers?name=" + url.QueryEscape(name) + "%00", token: adminToken},
		{method: http.MethodPost, path: "/v1/orders", token: storefrontToken, body: mustJSON(t, obj{"customer_id": c.ID, "disc_id": disc.ID, "quantity": 1})},
		{method: http.MethodPost, path: "/v1/orders", auth: "Bearer " + email, body: mustJSON(t, obj{"customer_id": c.ID, "disc_id": disc.ID, "quantity": 1})},
		{method: http.MethodPost, path: path + "/deactivate", token: adminToken},
		{method: http.MethodPost, path: path + "/reactivate", token: adminToken},
	}
	for _, r := range steps {
		if res := a.do(t, r); res.status >= 500 {
			t.Fatalf("%s %s: %s", r.method, r.path, res)
		}
	}
	// Requests Hertz cannot read, carrying the data where Hertz quotes it in its error line.
	raw := []string{
		"POST /v1/customers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + storefrontToken + "\r\nContent-Length: abc\r\n\r\n" + email,
		"GET /v1/customers?email=" + email + " HTTP/1.1\r\nHost: x\r\nX-Note: " + name + "\rb\r\n\r\n",
		email + " " + cpf + "\r\nHost: x\r\n\r\n",
	}
	for _, r := range raw {
		if res, err := a.exchange(t, []byte(r)); err == nil && res.status >= 500 {
			t.Fatalf("%.40q: %s", r, res)
		}
	}

	if logs.Len() == 0 {
		t.Fatal("nothing was logged at debug level: the test would prove nothing")
	}
	for _, e := range logs.All() {
		line := e.LoggerName + " " + e.Message
		for k, v := range e.ContextMap() {
			line += fmt.Sprintf(" %s=%v", k, v)
		}
		for _, s := range secrets {
			if strings.Contains(strings.ToLower(line), strings.ToLower(s)) {
				t.Errorf("a log line holds %q: %s", s, line)
			}
		}
	}
}
