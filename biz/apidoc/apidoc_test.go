package apidoc_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/learecordshop/recordshop/biz/apidoc"
	"github.com/learecordshop/recordshop/biz/handler"
	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/biz/problem"
)

var methods = []string{"get", "put", "post", "patch", "delete", "head", "options", "trace"}

// spec parses apidoc.Spec generically, numbers kept exact.
func spec(t *testing.T) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(apidoc.Spec))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	if dec.More() {
		t.Fatal("openapi.json has something after its object")
	}
	return doc
}

// lookup follows a local JSON pointer ("#/components/schemas/Disc") from the document's root.
func lookup(doc map[string]any, ref string) (any, error) {
	ptr, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, fmt.Errorf("%q is not a local ref", ref)
	}
	var node any = doc
	for _, part := range strings.Split(ptr, "/") {
		part = strings.NewReplacer("~1", "/", "~0", "~").Replace(part)
		obj, ok := node.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%q: %q is not inside an object", ref, part)
		}
		if node, ok = obj[part]; !ok {
			return nil, fmt.Errorf("%q: no %q", ref, part)
		}
	}
	return node, nil
}

// deref returns the object node points at, following $refs.
func deref(t *testing.T, doc map[string]any, node any) map[string]any {
	t.Helper()
	for range 16 {
		obj, _ := node.(map[string]any)
		ref, ok := obj["$ref"].(string)
		if !ok {
			return obj
		}
		var err error
		if node, err = lookup(doc, ref); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("$ref chain too long")
	return nil
}

type op struct {
	method, path string
	node         map[string]any
}

func operations(t *testing.T, doc map[string]any) []op {
	t.Helper()
	paths, ok := doc["paths"].(map[string]any)
	if !ok || len(paths) == 0 {
		t.Fatal("the document has no paths")
	}
	var out []op
	for path, item := range paths {
		for _, m := range methods {
			if node, ok := item.(map[string]any)[m].(map[string]any); ok {
				out = append(out, op{strings.ToUpper(m), path, node})
			}
		}
	}
	slices.SortFunc(out, func(a, b op) int { return strings.Compare(a.path+" "+a.method, b.path+" "+b.method) })
	return out
}

func TestSpecIsOpenAPI3(t *testing.T) {
	doc := spec(t)
	version, _ := doc["openapi"].(string)
	if !regexp.MustCompile(`^3\.[01]\.\d+$`).MatchString(version) {
		t.Errorf("openapi = %q, want 3.0.x or 3.1.x", version)
	}
	info, _ := doc["info"].(map[string]any)
	for _, field := range []string{"title", "version", "description"} {
		if s, _ := info[field].(string); s == "" {
			t.Errorf("info.%s is empty", field)
		}
	}
	scheme := deref(t, doc, map[string]any{"$ref": "#/components/securitySchemes/bearer"})
	if scheme["type"] != "http" || scheme["scheme"] != "bearer" {
		t.Errorf("securitySchemes.bearer = %v, want http bearer", scheme)
	}
}

// TestSpecNamesServersAndLicense: tools that call the API from the document (Swagger UI, Postman, client
// generators) need a server, and the relative one comes first so that they call whichever shop served it.
func TestSpecNamesServersAndLicense(t *testing.T) {
	doc := spec(t)
	var urls []string
	servers, _ := doc["servers"].([]any)
	for _, s := range servers {
		s, _ := s.(map[string]any)
		url, _ := s["url"].(string)
		if d, _ := s["description"].(string); d == "" {
			t.Errorf("server %q has no description", url)
		}
		urls = append(urls, url)
	}
	if diff := cmp.Diff([]string{"/", "http://localhost:8080"}, urls); diff != "" {
		t.Errorf("servers (-want +got):\n%s", diff)
	}
	license, _ := doc["info"].(map[string]any)["license"].(map[string]any)
	if name, _ := license["name"].(string); !strings.HasPrefix(name, "UNLICENSED") {
		t.Errorf("info.license.name = %q; the repository has no licence file, so the API is UNLICENSED (proprietary)", name)
	}
}

// TestEveryProblemKindIsDocumented: the Errors table of the description lists every kind of problem.Kinds,
// the Problem schema's type admits each, and the document names no kind that is not one of them, in an
// example or in a response's description ("`kind`: when ...").
func TestEveryProblemKindIsDocumented(t *testing.T) {
	doc := spec(t)
	description, _ := doc["info"].(map[string]any)["description"].(string)
	typeSchema := deref(t, doc, map[string]any{"$ref": "#/components/schemas/Problem/properties/type"})
	pattern := regexp.MustCompile(typeSchema["pattern"].(string))
	for _, k := range problem.Kinds {
		uri := problem.TypePrefix + k.Name
		if !strings.Contains(description, "| `"+uri+"` |") {
			t.Errorf("the Errors table does not list %s (run go generate ./biz/problem)", uri)
		}
		if k.Name == problem.HTTPFamily {
			uri = problem.TypePrefix + "http-417"
		}
		if !pattern.MatchString(uri) {
			t.Errorf("the Problem schema's type pattern %s refuses %s", pattern, uri)
		}
	}

	uris := regexp.MustCompile(regexp.QuoteMeta(problem.TypePrefix)+`([a-z0-9<>-]*)`).FindAllStringSubmatch(string(apidoc.Spec), -1)
	if len(uris) < len(problem.Kinds) {
		t.Fatalf("found %d type URIs in the document; the search is broken", len(uris))
	}
	for _, m := range uris {
		if m[1] != "" && m[1] != "<kind>" && !problem.Known(m[1]) {
			t.Errorf("the document names %s, which is not in problem.Kinds", m[0])
		}
	}

	named := regexp.MustCompile("`([a-z0-9-]+)`:")
	var responses []map[string]any
	if table, ok := doc["components"].(map[string]any)["responses"].(map[string]any); ok {
		for _, r := range table {
			responses = append(responses, deref(t, doc, r))
		}
	}
	for _, o := range operations(t, doc) {
		for _, r := range o.node["responses"].(map[string]any) {
			if r, _ := r.(map[string]any); r["$ref"] == nil {
				responses = append(responses, r)
			}
		}
	}
	checked := 0
	for _, r := range responses {
		content, _ := r["content"].(map[string]any)
		if _, ok := content[problem.ContentType]; !ok {
			continue
		}
		d, _ := r["description"].(string)
		for _, m := range named.FindAllStringSubmatch(d, -1) {
			checked++
			if !problem.Known(m[1]) {
				t.Errorf("a problem response is described as %q, which is not in problem.Kinds: %s", m[1], d)
			}
		}
	}
	if checked == 0 {
		t.Error("no problem response names its kind; the search is broken")
	}
}

func TestEveryOperationIsComplete(t *testing.T) {
	doc := spec(t)
	tags := map[string]bool{}
	for _, tg := range doc["tags"].([]any) {
		tags[tg.(map[string]any)["name"].(string)] = true
	}
	ids := map[string]string{}
	for _, o := range operations(t, doc) {
		t.Run(o.method+" "+o.path, func(t *testing.T) {
			id, _ := o.node["operationId"].(string)
			if id == "" {
				t.Error("no operationId")
			} else if other, dup := ids[id]; dup {
				t.Errorf("operationId %q is also used by %s", id, other)
			}
			ids[id] = o.method + " " + o.path
			if s, _ := o.node["summary"].(string); s == "" {
				t.Error("no summary")
			}
			if opTags, _ := o.node["tags"].([]any); len(opTags) != 1 || !tags[fmt.Sprint(opTags[0])] {
				t.Errorf("tags = %v, want exactly one declared tag", opTags)
			}
			if _, ok := o.node["security"].([]any); !ok {
				t.Error("no security of its own: say public ([]) or the role it needs")
			}
			responses, _ := o.node["responses"].(map[string]any)
			if len(responses) == 0 {
				t.Fatal("no responses")
			}
			success := false
			for code, r := range responses {
				if n, err := strconv.Atoi(code); err != nil || n < 100 || n > 599 {
					t.Errorf("response %q is not an HTTP status", code)
				} else if n < 300 {
					success = true
				}
				if d, _ := deref(t, doc, r)["description"].(string); d == "" {
					t.Errorf("response %s has no description", code)
				}
			}
			if !success {
				t.Error("no 2xx response")
			}
			// Every {param} of the path template is declared as a required path parameter.
			declared := map[string]bool{}
			params, _ := o.node["parameters"].([]any)
			for _, p := range params {
				p := deref(t, doc, p)
				if p["in"] == "path" && p["required"] == true {
					declared[p["name"].(string)] = true
				}
			}
			for _, m := range regexp.MustCompile(`\{(\w+)\}`).FindAllStringSubmatch(o.path, -1) {
				if !declared[m[1]] {
					t.Errorf("path parameter %q is not declared (required, in: path)", m[1])
				}
			}
		})
	}
}

func TestEveryRefResolves(t *testing.T) {
	doc := spec(t)
	var refs []string
	var walk func(node any)
	walk = func(node any) {
		switch n := node.(type) {
		case map[string]any:
			if ref, ok := n["$ref"].(string); ok {
				refs = append(refs, ref)
			}
			for _, v := range n {
				walk(v)
			}
		case []any:
			for _, v := range n {
				walk(v)
			}
		}
	}
	walk(doc)
	if len(refs) == 0 {
		t.Fatal("found no $ref at all; the walk is broken")
	}
	for _, ref := range refs {
		if !strings.HasPrefix(ref, "#/components/") {
			t.Errorf("$ref %q does not point into components", ref)
			continue
		}
		if _, err := lookup(doc, ref); err != nil {
			t.Errorf("$ref does not resolve: %v", err)
		}
	}
}

// The limits in the document are the ones the model validates; this catches one changing without the other.
func TestLimitsMatchTheModel(t *testing.T) {
	doc := spec(t)
	num := func(node map[string]any, key string) string {
		n, _ := node[key].(json.Number)
		return n.String()
	}
	prop := func(schema, field string) map[string]any {
		return deref(t, doc, map[string]any{"$ref": "#/components/schemas/" + schema + "/properties/" + field})
	}
	itoa := func(n int64) string { return strconv.FormatInt(n, 10) }
	for _, schema := range []string{"Disc", "DiscCreate", "DiscPatch"} {
		for _, c := range []struct {
			field, min, max string
		}{
			{"release_year", itoa(model.MinReleaseYear), itoa(model.MaxReleaseYear)},
			{"price_cents", "0", itoa(model.MaxPriceCents)},
			{"stock", "0", itoa(model.MaxStock)},
			{"per_customer_limit", "0", itoa(model.MaxCustomerLimit)},
		} {
			p := prop(schema, c.field)
			if got, want := num(p, "minimum")+".."+num(p, "maximum"), c.min+".."+c.max; got != want {
				t.Errorf("%s.%s range = %s, want %s", schema, c.field, got, want)
			}
		}
	}
	delta := prop("Restock", "delta")
	if got, want := num(delta, "minimum")+".."+num(delta, "maximum"), itoa(-model.MaxStock)+".."+itoa(model.MaxStock); got != want {
		t.Errorf("Restock.delta range = %s, want %s", got, want)
	}

	limit := deref(t, doc, map[string]any{"$ref": "#/components/parameters/Limit"})["schema"].(map[string]any)
	if got, want := num(limit, "minimum")+".."+num(limit, "maximum")+" default "+num(limit, "default"),
		"1.."+itoa(model.MaxLimit)+" default "+itoa(model.DefaultLimit); got != want {
		t.Errorf("limit parameter = %s, want %s", got, want)
	}

	var wantSort []any
	for _, k := range model.DiscSortKeys {
		wantSort = append(wantSort, k, "-"+k)
	}
	var gotSort []any
	for _, o := range operations(t, doc) {
		if o.method != "GET" || o.path != "/v1/discs" {
			continue
		}
		for _, p := range o.node["parameters"].([]any) {
			if p := deref(t, doc, p); p["name"] == "sort" {
				gotSort = p["schema"].(map[string]any)["enum"].([]any)
			}
		}
	}
	if diff := cmp.Diff(wantSort, gotSort); diff != "" {
		t.Errorf("GET /v1/discs sort values differ from model.DiscSortKeys (-want +got):\n%s", diff)
	}

	maxBody := strconv.Itoa(handler.MaxBodyBytes)
	for _, where := range []string{"#/info/description", "#/components/responses/BodyTooLarge/description"} {
		text, err := lookup(doc, where)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text.(string), maxBody) {
			t.Errorf("%s does not state the body bound of %s bytes", where, maxBody)
		}
	}
}

func TestRenderPage(t *testing.T) {
	page, err := apidoc.RenderPage(apidoc.Spec)
	if err != nil {
		t.Fatalf("RenderPage: %v", err)
	}
	html := string(page)
	if !strings.HasPrefix(html, "<!DOCTYPE html>") {
		t.Errorf("page starts with %.40q, want <!DOCTYPE html>", html)
	}
	for _, want := range []string{"<html", "<title>recordshop API</title>", "</html>", "Roles", "urn:recordshop:problem:validation",
		"<li><code>/</code>: ", "<li><code>http://localhost:8080</code>: ", "License: UNLICENSED"} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	doc := spec(t)
	for _, o := range operations(t, doc) {
		if !strings.Contains(html, ">"+o.path+"<") {
			t.Errorf("page lacks the path %s", o.path)
		}
		if id := o.node["operationId"].(string); !strings.Contains(html, `id="op-`+id+`"`) {
			t.Errorf("page lacks the section of %s", id)
		}
	}
	// Self-contained: the page loads nothing, so it reads the same with no network.
	for _, loads := range []string{"<script", "<link", "<img", "<iframe", "@import", "url("} {
		if strings.Contains(html, loads) {
			t.Errorf("page contains %q; it must load nothing from elsewhere", loads)
		}
	}
}

func TestRenderPageEscapesTheDocument(t *testing.T) {
	doc := `{"openapi": "3.1.0", "info": {"title": "<b>T</b>", "version": "1",
		"description": "A <script>alert(1)</script> here, and ` + "`<code>`" + ` there."},
		"paths": {"/x": {"get": {"operationId": "x", "summary": "<img src=y>", "security": [],
		"responses": {"200": {"description": "ok"}}}}}}`
	page, err := apidoc.RenderPage([]byte(doc))
	if err != nil {
		t.Fatalf("RenderPage: %v", err)
	}
	html := string(page)
	for _, raw := range []string{"<script>", "<b>T</b>", "<img src=y>", "<code><code>"} {
		if strings.Contains(html, raw) {
			t.Errorf("page contains %q unescaped", raw)
		}
	}
	if !strings.Contains(html, "&lt;script&gt;") || !strings.Contains(html, "<code>&lt;code&gt;</code>") {
		t.Error("page does not show the escaped text")
	}
}

func TestRenderPageRefusesBrokenDocuments(t *testing.T) {
	for name, doc := range map[string]string{
		"not JSON":       `{"openapi": `,
		"paths as array": `{"openapi": "3.1.0", "paths": []}`,
		"unresolved response ref": `{"openapi": "3.1.0", "paths": {"/x": {"get": {"operationId": "x",
			"responses": {"200": {"$ref": "#/components/responses/Missing"}}}}}}`,
		"unresolved schema ref": `{"openapi": "3.1.0", "paths": {"/x": {"post": {"operationId": "x",
			"requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Missing"}}}},
			"responses": {"204": {"description": "ok"}}}}}}`,
		"null response": `{"openapi": "3.1.0", "paths": {"/x": {"get": {"operationId": "x",
			"responses": {"200": null}}}}}`,
		"null parameter": `{"openapi": "3.1.0", "paths": {"/x": {"get": {"operationId": "x",
			"parameters": [null], "responses": {"200": {"description": "ok"}}}}}}`,
		"unresolved parameter ref": `{"openapi": "3.1.0", "paths": {"/x/{id}": {"get": {"operationId": "x",
			"parameters": [{"$ref": "#/components/parameters/Missing"}],
			"responses": {"200": {"description": "ok"}}}}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := apidoc.RenderPage([]byte(doc)); err == nil {
				t.Error("RenderPage accepted it")
			}
		})
	}
}
