// Package apidoc holds the OpenAPI 3 document of the whole API (openapi.json, written by hand) and renders the
// self-contained human docs page from it. It owns what the API says about itself to callers.
//
// It must not import the routes, handlers or anything that serves: it is data and a renderer, and the router's
// tests hold the document and the route table against each other.
package apidoc

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"slices"
	"strconv"
	"strings"
)

// Spec is the OpenAPI 3.1 document of the whole API, served as /openapi.json. It is written by hand beside
// biz/router/routes.go; the router's tests fail when a route and the document disagree (a route missing from
// it, an operation without a route, or a role that does not match its security). The one part not written
// by hand is the table of problem kinds in its description: `go generate ./biz/problem` writes it from
// problem.Kinds, which the code's answers are checked against.
//
//go:embed openapi.json
var Spec []byte

// RenderPage renders the self-contained human docs page of an OpenAPI 3 document: its title and description,
// who may call what, then each tag's operations with method, path, summary, required role, parameters,
// request body fields and responses, and finally the schemas. The page loads nothing from elsewhere (no
// external CSS, scripts or fonts), so it reads the same offline. A document that does not parse, or whose
// $refs point at nothing, is an error: better to fail at start than to serve a page with holes.
func RenderPage(spec []byte) ([]byte, error) {
	var doc document
	dec := json.NewDecoder(bytes.NewReader(spec))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("apidoc: parse document: %w", err)
	}
	view, err := doc.view()
	if err != nil {
		return nil, fmt.Errorf("apidoc: %w", err)
	}
	var out bytes.Buffer
	if err := pageTemplate.Execute(&out, view); err != nil {
		return nil, fmt.Errorf("apidoc: render page: %w", err)
	}
	return out.Bytes(), nil
}

// The subset of OpenAPI 3 that the page shows. Objects whose order people read in (paths, properties,
// schemas, content, examples) keep the document's order.
type document struct {
	OpenAPI    string            `json:"openapi"`
	Info       info              `json:"info"`
	Servers    []server          `json:"servers"`
	Tags       []tag             `json:"tags"`
	Security   []requirement     `json:"security"`
	Paths      ordered[pathItem] `json:"paths"`
	Components components        `json:"components"`
}

type info struct {
	Title       string `json:"title"`
	Summary     string `json:"summary"`
	Version     string `json:"version"`
	Description string `json:"description"`
	License     struct {
		Name string `json:"name"`
	} `json:"license"`
}

type server struct {
	URL         string `json:"url"`
	Description string `json:"description"`
}

type tag struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// requirement is one security requirement: scheme name to the roles (scopes) it needs.
type requirement map[string][]string

type pathItem struct {
	Parameters []*parameter `json:"parameters"`
	Get        *operation   `json:"get"`
	Put        *operation   `json:"put"`
	Post       *operation   `json:"post"`
	Patch      *operation   `json:"patch"`
	Delete     *operation   `json:"delete"`
	Head       *operation   `json:"head"`
	Options    *operation   `json:"options"`
	Trace      *operation   `json:"trace"`
}

// operations returns the item's operations by upper-case method, in a fixed reading order.
func (p pathItem) operations() []entry[*operation] {
	var out []entry[*operation]
	for _, m := range []entry[*operation]{{"GET", p.Get}, {"POST", p.Post}, {"PUT", p.Put}, {"PATCH", p.Patch},
		{"DELETE", p.Delete}, {"HEAD", p.Head}, {"OPTIONS", p.Options}, {"TRACE", p.Trace}} {
		if m.Value != nil {
			out = append(out, m)
		}
	}
	return out
}

type operation struct {
	OperationID string               `json:"operationId"`
	Summary     string               `json:"summary"`
	Description string               `json:"description"`
	Tags        []string             `json:"tags"`
	Parameters  []*parameter         `json:"parameters"`
	RequestBody *requestBody         `json:"requestBody"`
	Responses   map[string]*response `json:"responses"`
	// Security is nil when the operation has none of its own (the document's applies) and empty when it is
	// public.
	Security *[]requirement `json:"security"`
}

type parameter struct {
	Ref         string          `json:"$ref"`
	Name        string          `json:"name"`
	In          string          `json:"in"`
	Description string          `json:"description"`
	Required    bool            `json:"required"`
	Schema      *schema         `json:"schema"`
	Example     json.RawMessage `json:"example"`
}

type requestBody struct {
	Ref         string              `json:"$ref"`
	Description string              `json:"description"`
	Required    bool                `json:"required"`
	Content     ordered[*mediaType] `json:"content"`
}

type response struct {
	Ref         string              `json:"$ref"`
	Description string              `json:"description"`
	Headers     ordered[*header]    `json:"headers"`
	Content     ordered[*mediaType] `json:"content"`
}

type header struct {
	Ref         string `json:"$ref"`
	Description string `json:"description"`
}

type mediaType struct {
	Schema   *schema          `json:"schema"`
	Example  json.RawMessage  `json:"example"`
	Examples ordered[example] `json:"examples"`
}

type example struct {
	Summary string          `json:"summary"`
	Value   json.RawMessage `json:"value"`
}

type schema struct {
	Ref                  string           `json:"$ref"`
	Type                 schemaType       `json:"type"`
	Format               string           `json:"format"`
	Description          string           `json:"description"`
	Enum                 []any            `json:"enum"`
	Const                any              `json:"const"`
	Default              any              `json:"default"`
	Minimum              *json.Number     `json:"minimum"`
	Maximum              *json.Number     `json:"maximum"`
	MinLength            *int             `json:"minLength"`
	MaxLength            *int             `json:"maxLength"`
	Pattern              string           `json:"pattern"`
	MinProperties        *int             `json:"minProperties"`
	Required             []string         `json:"required"`
	Properties           ordered[*schema] `json:"properties"`
	AdditionalProperties json.RawMessage  `json:"additionalProperties"`
	Items                *schema          `json:"items"`
	Not                  *schema          `json:"not"`
}

// schemaType is "type", a single name or (OpenAPI 3.1) a list of them.
type schemaType []string

func (t *schemaType) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*t = schemaType{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("type must be a string or a list of strings")
	}
	*t = many
	return nil
}

type components struct {
	Schemas         ordered[*schema]         `json:"schemas"`
	Parameters      ordered[*parameter]      `json:"parameters"`
	Responses       ordered[*response]       `json:"responses"`
	RequestBodies   ordered[*requestBody]    `json:"requestBodies"`
	Headers         ordered[*header]         `json:"headers"`
	SecuritySchemes ordered[*securityScheme] `json:"securitySchemes"`
}

type securityScheme struct {
	Type         string `json:"type"`
	Scheme       string `json:"scheme"`
	BearerFormat string `json:"bearerFormat"`
	Description  string `json:"description"`
}

// entry is one member of a JSON object.
type entry[T any] struct {
	Name  string
	Value T
}

// ordered is a JSON object decoded in its members' order.
type ordered[T any] []entry[T]

func (o *ordered[T]) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok == nil { // null
		return nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("want a JSON object, got %v", tok)
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return err
		}
		name, _ := key.(string) // object keys are always strings
		var v T
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		*o = append(*o, entry[T]{name, v})
	}
	_, err = dec.Token() // the closing brace
	return err
}

func (o ordered[T]) get(name string) (T, bool) {
	for _, e := range o {
		if e.Name == name {
			return e.Value, true
		}
	}
	var zero T
	return zero, false
}

// resolve follows a local $ref ("#/components/<kind>/<name>") into the components of that kind, through
// chains of refs, and fails on a ref that points at nothing.
func resolve[T any](kind string, table ordered[*T], ref func(*T) string, v *T) (*T, error) {
	for range 16 {
		if v == nil {
			return nil, fmt.Errorf("a %s entry is null", strings.TrimSuffix(kind, "s"))
		}
		r := ref(v)
		if r == "" {
			return v, nil
		}
		name, ok := strings.CutPrefix(r, "#/components/"+kind+"/")
		name = strings.NewReplacer("~1", "/", "~0", "~").Replace(name)
		next, found := table.get(name)
		if !ok || !found {
			return v, fmt.Errorf("unresolved $ref %q", r)
		}
		v = next
	}
	return v, fmt.Errorf("$ref chain too long at %q", ref(v))
}

func (d *document) schema(s *schema) (*schema, error) {
	if s == nil {
		return nil, nil
	}
	return resolve("schemas", d.Components.Schemas, func(s *schema) string { return s.Ref }, s)
}

func (d *document) parameter(p *parameter) (*parameter, error) {
	return resolve("parameters", d.Components.Parameters, func(p *parameter) string { return p.Ref }, p)
}

func (d *document) response(r *response) (*response, error) {
	return resolve("responses", d.Components.Responses, func(r *response) string { return r.Ref }, r)
}

func (d *document) requestBody(b *requestBody) (*requestBody, error) {
	return resolve("requestBodies", d.Components.RequestBodies, func(b *requestBody) string { return b.Ref }, b)
}

func (d *document) header(h *header) (*header, error) {
	return resolve("headers", d.Components.Headers, func(h *header) string { return h.Ref }, h)
}

// What the template shows, every text already turned into blocks and spans so that the template escapes
// all of it: nothing from the document reaches the page as raw HTML.
type pageView struct {
	Title, Summary, Version, OpenAPI string
	License                          string
	Servers                          []serverView
	Intro                            []block
	Schemes                          []schemeView
	Roles                            []roleView
	Tags                             []tagView
	Schemas                          []schemaView
}

type serverView struct {
	URL         string
	Description []span
}

type schemeView struct {
	Name, Kind  string
	Description []span
}

// roleView is one role with every operation that needs it.
type roleView struct {
	Name string
	Ops  []opLink
}

type opLink struct{ Anchor, Method, Path string }

type tagView struct {
	Name, Anchor string
	Description  []span
	Ops          []opView
}

type opView struct {
	Anchor, ID, Method, Path, Summary, Role string
	Description                             []block
	Params                                  []fieldView
	Body                                    *bodyView
	Responses                               []responseView
}

type fieldView struct {
	Name, In, Type, Link string
	Required             bool
	Rules, Description   []span
}

type bodyView struct {
	ContentType, Schema, Link, Example string
	Required                           bool
	Rules, Description                 []span
	Fields                             []fieldView
}

type responseView struct {
	Status, ContentType, Schema, Link string
	Description                       []span
	Problems, Headers                 []string
}

type schemaView struct {
	Name, Anchor, Type string
	Rules, Description []span
	Fields             []fieldView
}

// view builds what the page shows from the document, resolving every $ref on the way.
func (d *document) view() (pageView, error) {
	v := pageView{Title: d.Info.Title, Summary: d.Info.Summary, Version: d.Info.Version, OpenAPI: d.OpenAPI,
		License: d.Info.License.Name, Intro: blocks(d.Info.Description)}
	for _, s := range d.Servers {
		v.Servers = append(v.Servers, serverView{URL: s.URL, Description: spans(s.Description)})
	}
	if v.Title == "" {
		v.Title = "API"
	}
	for _, s := range d.Components.SecuritySchemes {
		kind := s.Value.Type
		if s.Value.Scheme != "" {
			kind += " " + s.Value.Scheme
		}
		v.Schemes = append(v.Schemes, schemeView{Name: s.Name, Kind: kind, Description: spans(s.Value.Description)})
	}

	tagIndex := map[string]int{}
	for _, t := range d.Tags {
		tagIndex[t.Name] = len(v.Tags)
		v.Tags = append(v.Tags, tagView{Name: t.Name, Anchor: "tag-" + anchor(t.Name), Description: spans(t.Description)})
	}
	roleIndex := map[string]int{}
	for _, p := range d.Paths {
		for _, m := range p.Value.operations() {
			op, err := d.operation(p.Name, m.Name, p.Value.Parameters, m.Value)
			if err != nil {
				return v, fmt.Errorf("%s %s: %w", m.Name, p.Name, err)
			}
			name := "default"
			if len(m.Value.Tags) > 0 {
				name = m.Value.Tags[0]
			}
			i, ok := tagIndex[name]
			if !ok {
				i = len(v.Tags)
				tagIndex[name] = i
				v.Tags = append(v.Tags, tagView{Name: name, Anchor: "tag-" + anchor(name)})
			}
			v.Tags[i].Ops = append(v.Tags[i].Ops, op)
			r, ok := roleIndex[op.Role]
			if !ok {
				r = len(v.Roles)
				roleIndex[op.Role] = r
				v.Roles = append(v.Roles, roleView{Name: op.Role})
			}
			v.Roles[r].Ops = append(v.Roles[r].Ops, opLink{Anchor: op.Anchor, Method: op.Method, Path: op.Path})
		}
	}
	slices.SortStableFunc(v.Roles, func(a, b roleView) int { return roleRank(a.Name) - roleRank(b.Name) })

	for _, s := range d.Components.Schemas {
		if s.Value == nil {
			return v, fmt.Errorf("schema %s is null", s.Name)
		}
		sv := schemaView{Name: s.Name, Anchor: "schema-" + anchor(s.Name), Description: spans(s.Value.Description)}
		res, err := d.schema(s.Value)
		if err != nil {
			return v, fmt.Errorf("schema %s: %w", s.Name, err)
		}
		sv.Type, _ = d.typeOf(s.Value)
		sv.Rules = spans(rules(res))
		if sv.Fields, err = d.fields(res); err != nil {
			return v, fmt.Errorf("schema %s: %w", s.Name, err)
		}
		v.Schemas = append(v.Schemas, sv)
	}
	return v, nil
}

// roleRank puts the roles in order of the power they need, least first; roles it does not know go last.
func roleRank(role string) int {
	switch role {
	case "public":
		return 0
	case "storefront":
		return 1
	case "admin":
		return 2
	}
	return 3
}

func (d *document) operation(path, method string, shared []*parameter, op *operation) (opView, error) {
	v := opView{ID: op.OperationID, Method: method, Path: path, Summary: op.Summary,
		Description: blocks(op.Description), Role: d.role(op)}
	v.Anchor = "op-" + anchor(op.OperationID)
	if op.OperationID == "" {
		v.Anchor = "op-" + anchor(method+" "+path)
	}
	for _, p := range append(slices.Clone(shared), op.Parameters...) {
		p, err := d.parameter(p)
		if err != nil {
			return v, err
		}
		typ, link := d.typeOf(p.Schema)
		s, err := d.schema(p.Schema)
		if err != nil {
			return v, err
		}
		rs := rules(s)
		if len(p.Example) > 0 {
			rs = joinRules(rs, "e.g. `"+compact(p.Example)+"`")
		}
		v.Params = append(v.Params, fieldView{Name: p.Name, In: p.In, Type: typ, Link: link, Rules: spans(rs),
			Required: p.Required, Description: spans(p.Description)})
	}
	if op.RequestBody != nil {
		b, err := d.requestBody(op.RequestBody)
		if err != nil {
			return v, err
		}
		bv := &bodyView{Required: b.Required, Description: spans(b.Description)}
		if len(b.Content) > 0 && b.Content[0].Value != nil {
			mt := b.Content[0]
			bv.ContentType = mt.Name
			bv.Schema, bv.Link = d.typeOf(mt.Value.Schema)
			s, err := d.schema(mt.Value.Schema)
			if err != nil {
				return v, err
			}
			bv.Rules = spans(rules(s))
			if bv.Fields, err = d.fields(s); err != nil {
				return v, err
			}
			bv.Example = indent(mt.Value.Example)
		}
		v.Body = bv
	}
	codes := make([]string, 0, len(op.Responses))
	for code := range op.Responses {
		codes = append(codes, code)
	}
	slices.SortFunc(codes, func(a, b string) int { return strings.Compare(statusKey(a), statusKey(b)) })
	for _, code := range codes {
		r, err := d.response(op.Responses[code])
		if err != nil {
			return v, fmt.Errorf("response %s: %w", code, err)
		}
		rv := responseView{Status: code, Description: spans(r.Description)}
		for _, h := range r.Headers {
			if _, err := d.header(h.Value); err != nil {
				return v, fmt.Errorf("response %s: header %s: %w", code, h.Name, err)
			}
			rv.Headers = append(rv.Headers, h.Name)
		}
		if len(r.Content) > 0 && r.Content[0].Value != nil {
			mt := r.Content[0]
			rv.ContentType = mt.Name
			rv.Schema, rv.Link = d.typeOf(mt.Value.Schema)
			if _, err := d.schema(mt.Value.Schema); err != nil {
				return v, fmt.Errorf("response %s: %w", code, err)
			}
			rv.Problems = problemTypes(mt.Value)
		}
		v.Responses = append(v.Responses, rv)
	}
	return v, nil
}

// statusKey orders response keys: three-digit codes in numeric order, a range such as 4XX after its codes,
// and "default" last.
func statusKey(code string) string {
	if code == "default" {
		return "9"
	}
	return code
}

// role names who may call op: "public" when its security is empty, else the roles of its bearer
// requirement (or the scheme's name when the requirement lists none). Alternatives are joined with "or".
func (d *document) role(op *operation) string {
	sec := d.Security
	if op.Security != nil {
		sec = *op.Security
	}
	var names []string
	for _, req := range sec {
		for scheme, roles := range req {
			if len(roles) == 0 {
				names = append(names, scheme)
			}
			names = append(names, roles...)
		}
	}
	if len(names) == 0 {
		return "public"
	}
	slices.Sort(names)
	return strings.Join(slices.Compact(names), " or ")
}

// fields lists the properties of an object schema with their types, rules and whether they are required.
func (d *document) fields(s *schema) ([]fieldView, error) {
	if s == nil {
		return nil, nil
	}
	var out []fieldView
	for _, p := range s.Properties {
		if p.Value == nil {
			return nil, fmt.Errorf("property %s is null", p.Name)
		}
		typ, link := d.typeOf(p.Value)
		res, err := d.schema(p.Value)
		if err != nil {
			return nil, fmt.Errorf("property %s: %w", p.Name, err)
		}
		if res.Items != nil {
			if _, err := d.schema(res.Items); err != nil {
				return nil, fmt.Errorf("property %s: %w", p.Name, err)
			}
		}
		desc := p.Value.Description
		if desc == "" {
			desc = res.Description
		}
		out = append(out, fieldView{Name: p.Name, Type: typ, Link: link, Rules: spans(rules(res)),
			Required: slices.Contains(s.Required, p.Name), Description: spans(desc)})
	}
	return out, nil
}

// typeOf says a schema's type in words ("integer (int64)", "array of Disc") and, when it names a component
// schema, that schema's anchor on the page.
func (d *document) typeOf(s *schema) (typ, link string) {
	if s == nil {
		return "", ""
	}
	if name, ok := strings.CutPrefix(s.Ref, "#/components/schemas/"); ok {
		return name, "schema-" + anchor(name)
	}
	typ = strings.Join(s.Type, " or ")
	if s.Items != nil {
		item, link := d.typeOf(s.Items)
		return "array of " + item, link
	}
	if typ == "" {
		typ = "any"
	}
	if s.Format != "" {
		typ += " (" + s.Format + ")"
	}
	return typ, ""
}

// rules says a schema's constraints in words, the way the model's validation states them.
func rules(s *schema) string {
	if s == nil {
		return ""
	}
	var out []string
	if len(s.Enum) > 0 {
		vals := make([]string, len(s.Enum))
		for i, e := range s.Enum {
			vals[i] = jsonText(e)
		}
		out = append(out, "one of "+strings.Join(vals, ", "))
	}
	if s.Const != nil {
		out = append(out, "always "+jsonText(s.Const))
	}
	switch {
	case s.Minimum != nil && s.Maximum != nil:
		out = append(out, "from "+s.Minimum.String()+" to "+s.Maximum.String())
	case s.Minimum != nil:
		out = append(out, "at least "+s.Minimum.String())
	case s.Maximum != nil:
		out = append(out, "at most "+s.Maximum.String())
	}
	if s.Not != nil && s.Not.Const != nil {
		out = append(out, "not "+jsonText(s.Not.Const))
	}
	switch {
	case s.MinLength != nil && s.MaxLength != nil:
		out = append(out, fmt.Sprintf("%d to %d characters", *s.MinLength, *s.MaxLength))
	case s.MinLength != nil:
		out = append(out, fmt.Sprintf("at least %d characters", *s.MinLength))
	case s.MaxLength != nil:
		out = append(out, fmt.Sprintf("at most %d characters", *s.MaxLength))
	}
	if s.Pattern != "" {
		out = append(out, "matches `"+s.Pattern+"`")
	}
	if s.MinProperties != nil {
		out = append(out, fmt.Sprintf("at least %d field(s)", *s.MinProperties))
	}
	if string(s.AdditionalProperties) == "false" {
		out = append(out, "no other fields")
	}
	if s.Default != nil {
		out = append(out, "default "+jsonText(s.Default))
	}
	return strings.Join(out, "; ")
}

func joinRules(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// problemTypes lists the problem kinds a response's examples show (the part of "type" after the last colon).
func problemTypes(mt *mediaType) []string {
	raws := []json.RawMessage{mt.Example}
	for _, e := range mt.Examples {
		raws = append(raws, e.Value.Value)
	}
	var out []string
	for _, raw := range raws {
		var p struct {
			Type string `json:"type"`
		}
		if len(raw) == 0 || json.Unmarshal(raw, &p) != nil || p.Type == "" {
			continue
		}
		out = append(out, p.Type)
	}
	return out
}

func jsonText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func compact(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

func indent(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var b bytes.Buffer
	if json.Indent(&b, raw, "", "  ") != nil {
		return string(raw)
	}
	return b.String()
}

// anchor makes an id attribute from a name: letters, digits and dashes.
func anchor(name string) string {
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	return b.String()
}

// The descriptions are written in a small part of Markdown (CommonMark, as OpenAPI says): paragraphs,
// "## headings", "- " lists, pipe tables and `code`. That is all the page renders; anything else shows as
// plain text, never as HTML.
type block struct {
	Kind   string // "p", "h", "ul" or "table"
	Text   []span
	Items  [][]span
	Header [][]span
	Rows   [][][]span
}

type span struct {
	Code bool
	Text string
}

// blocks splits Markdown text into paragraphs, headings, lists and tables.
func blocks(text string) []block {
	var out []block
	var para []string
	flush := func() {
		if len(para) > 0 {
			out = append(out, block{Kind: "p", Text: spans(strings.Join(para, " "))})
			para = nil
		}
	}
	last := func(kind string) *block {
		if len(out) > 0 && out[len(out)-1].Kind == kind && para == nil {
			return &out[len(out)-1]
		}
		return nil
	}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
			flush()
		case strings.HasPrefix(line, "#"):
			flush()
			out = append(out, block{Kind: "h", Text: spans(strings.TrimSpace(strings.TrimLeft(line, "#")))})
		case strings.HasPrefix(line, "- ") || strings.HasPrefix(line, "* "):
			flush()
			item := spans(strings.TrimSpace(line[2:]))
			if b := last("ul"); b != nil {
				b.Items = append(b.Items, item)
			} else {
				out = append(out, block{Kind: "ul", Items: [][]span{item}})
			}
		case strings.HasPrefix(line, "|"):
			flush()
			cells := tableCells(line)
			b := last("table")
			switch {
			case b == nil:
				out = append(out, block{Kind: "table", Header: cells})
			case isDelimiterRow(line):
				// The line under the header only says how to align.
			default:
				b.Rows = append(b.Rows, cells)
			}
		default:
			para = append(para, line)
		}
	}
	flush()
	return out
}

func tableCells(line string) [][]span {
	line = strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|")
	var cells [][]span
	for _, c := range strings.Split(line, "|") {
		cells = append(cells, spans(strings.TrimSpace(c)))
	}
	return cells
}

func isDelimiterRow(line string) bool {
	return strings.Trim(line, "|-: ") == ""
}

// spans splits text at backticks into plain and code runs.
func spans(text string) []span {
	var out []span
	for i, part := range strings.Split(text, "`") {
		if part != "" {
			out = append(out, span{Code: i%2 == 1, Text: part})
		}
	}
	return out
}

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"lower": strings.ToLower,
	"statusClass": func(code string) string {
		if code == "" {
			return "s0"
		}
		if n, err := strconv.Atoi(code[:1]); err == nil {
			return "s" + strconv.Itoa(n)
		}
		return "s0"
	},
}).Parse(pageHTML))

const pageHTML = `{{define "spans"}}{{range .}}{{if .Code}}<code>{{.Text}}</code>{{else}}{{.Text}}{{end}}{{end}}{{end}}
{{- define "blocks"}}{{range .}}
{{- if eq .Kind "h"}}<h3>{{template "spans" .Text}}</h3>
{{else if eq .Kind "p"}}<p>{{template "spans" .Text}}</p>
{{else if eq .Kind "ul"}}<ul>{{range .Items}}<li>{{template "spans" .}}</li>{{end}}</ul>
{{else if eq .Kind "table"}}<table><thead><tr>{{range .Header}}<th>{{template "spans" .}}</th>{{end}}</tr></thead>
<tbody>{{range .Rows}}<tr>{{range .}}<td>{{template "spans" .}}</td>{{end}}</tr>
{{end}}</tbody></table>
{{end}}{{end}}{{end}}
{{- define "fields"}}<table class="fields"><thead><tr><th>Name</th><th>Type</th><th>Required</th><th>Rules</th><th>Description</th></tr></thead>
<tbody>{{range .}}<tr><td><code>{{.Name}}</code>{{if .In}} <span class="in">{{.In}}</span>{{end}}</td>
<td>{{if .Link}}<a href="#{{.Link}}">{{.Type}}</a>{{else}}{{.Type}}{{end}}</td>
<td>{{if .Required}}<strong>yes</strong>{{else}}no{{end}}</td><td>{{template "spans" .Rules}}</td><td>{{template "spans" .Description}}</td></tr>
{{end}}</tbody></table>{{end -}}
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
:root { --ink: #1d232b; --muted: #5b6673; --line: #d8dee6; --soft: #f4f6f9; --link: #1f5fbf; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--ink); background: #fff; }
main { max-width: 1080px; margin: 0 auto; padding: 24px 28px 64px; }
header.top { border-bottom: 3px solid var(--ink); padding-bottom: 12px; margin-bottom: 8px; }
h1 { font-size: 30px; margin: 0 0 4px; }
h2 { font-size: 23px; margin: 40px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 18px; margin: 24px 0 8px; }
h4 { font-size: 15px; margin: 16px 0 6px; color: var(--muted); }
a { color: var(--link); text-decoration: none; }
a:hover { text-decoration: underline; }
.meta { color: var(--muted); margin: 0; }
code { font: 13px/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace; background: var(--soft); padding: 1px 4px; border-radius: 3px; }
pre { background: var(--soft); border: 1px solid var(--line); border-radius: 4px; padding: 10px 12px; overflow-x: auto; }
pre code { background: none; padding: 0; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 12px; font-size: 14px; }
th, td { border: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
nav.toc { background: var(--soft); border: 1px solid var(--line); border-radius: 6px; padding: 10px 16px; margin: 16px 0; columns: 2; }
nav.toc ul { list-style: none; margin: 0 0 8px; padding: 0; }
nav.toc li { margin: 2px 0; break-inside: avoid; }
nav.toc .tag { font-weight: 600; margin-top: 6px; }
.op { border: 1px solid var(--line); border-radius: 6px; margin: 18px 0; padding: 0 16px 8px; }
.op > .head { display: flex; flex-wrap: wrap; align-items: center; gap: 10px; margin: 0 -16px 8px; padding: 10px 16px; background: var(--soft); border-bottom: 1px solid var(--line); border-radius: 6px 6px 0 0; }
.op .path { font: 600 16px ui-monospace, Menlo, Consolas, "DejaVu Sans Mono", monospace; }
.op .summary { color: var(--muted); flex: 1; }
.method { display: inline-block; min-width: 64px; text-align: center; font: 700 12px/1 ui-monospace, Menlo, Consolas, "DejaVu Sans Mono", monospace; color: #fff; padding: 5px 6px; border-radius: 3px; }
.method { background: #555; }
.m-get { background: #1f6fb2; } .m-post { background: #2f8a3b; } .m-patch, .m-put { background: #b86e00; } .m-delete { background: #b3261e; }
.role { display: inline-block; font-size: 12px; font-weight: 600; padding: 2px 8px; border-radius: 10px; border: 1px solid; white-space: nowrap; }
.r-public { color: #44505c; border-color: #aab4bf; background: #f1f3f5; }
.r-storefront { color: #0f5a8a; border-color: #8cc0e3; background: #eaf5fc; }
.r-admin { color: #6a1b9a; border-color: #c9a3de; background: #f6edfb; }
.opid { color: var(--muted); font-size: 13px; }
.in { color: var(--muted); font-size: 12px; }
.status { font-weight: 700; font-family: ui-monospace, Menlo, Consolas, "DejaVu Sans Mono", monospace; }
.s2 { color: #2f8a3b; } .s3 { color: #1f6fb2; } .s4 { color: #b86e00; } .s5 { color: #b3261e; }
.fields td:nth-child(-n+2) { white-space: nowrap; }
.schema { margin: 14px 0 22px; }
</style>
</head>
<body>
<main>
<header class="top">
<h1>{{.Title}}</h1>
<p class="meta">{{if .Summary}}{{.Summary}} {{end}}Version {{.Version}} · OpenAPI {{.OpenAPI}} · <a href="openapi.json">openapi.json</a></p>
</header>

<nav class="toc" aria-label="Contents">
<ul><li class="tag"><a href="#overview">Overview</a></li><li class="tag"><a href="#authentication">Authentication</a></li></ul>
{{range .Tags}}<ul><li class="tag"><a href="#{{.Anchor}}">{{.Name}}</a></li>
{{range .Ops}}<li><a href="#{{.Anchor}}"><span class="method m-{{lower .Method}}">{{.Method}}</span> <code>{{.Path}}</code></a></li>
{{end}}</ul>
{{end}}<ul><li class="tag"><a href="#schemas">Schemas</a></li></ul>
</nav>

<section id="overview">
<h2>Overview</h2>
{{if .Servers}}<p>Servers:</p>
<ul>{{range .Servers}}<li><code>{{.URL}}</code>{{if .Description}}: {{template "spans" .Description}}{{end}}</li>{{end}}</ul>
{{end}}{{if .License}}<p>License: {{.License}}</p>
{{end}}{{template "blocks" .Intro}}
</section>

<section id="authentication">
<h2>Authentication</h2>
{{range .Schemes}}<p><strong>{{.Name}}</strong> ({{.Kind}}): {{template "spans" .Description}}</p>
{{end}}
<table><thead><tr><th>Role</th><th>Operations that need it</th></tr></thead>
<tbody>{{range .Roles}}<tr><td><span class="role r-{{.Name}}">{{.Name}}</span></td>
<td>{{range $i, $op := .Ops}}{{if $i}}, {{end}}<a href="#{{$op.Anchor}}"><code>{{$op.Method}} {{$op.Path}}</code></a>{{end}}</td></tr>
{{end}}</tbody></table>
</section>

{{range .Tags}}<section id="{{.Anchor}}">
<h2>{{.Name}}</h2>
{{if .Description}}<p>{{template "spans" .Description}}</p>{{end}}
{{range .Ops}}<article class="op" id="{{.Anchor}}">
<div class="head"><span class="method m-{{lower .Method}}">{{.Method}}</span><span class="path">{{.Path}}</span>
<span class="summary">{{.Summary}}</span><span class="role r-{{.Role}}" title="required role">{{.Role}}</span></div>
{{if .ID}}<p class="opid">operationId <code>{{.ID}}</code></p>{{end}}
{{template "blocks" .Description}}
{{if .Params}}<h4>Parameters</h4>
{{template "fields" .Params}}{{end}}
{{with .Body}}<h4>Request body{{if .ContentType}} · <code>{{.ContentType}}</code>{{end}}{{if .Schema}} · {{if .Link}}<a href="#{{.Link}}">{{.Schema}}</a>{{else}}{{.Schema}}{{end}}{{end}}{{if .Required}} · required{{end}}</h4>
{{if .Description}}<p>{{template "spans" .Description}}</p>{{end}}
{{if .Rules}}<p>Body rules: {{template "spans" .Rules}}.</p>{{end}}
{{if .Fields}}{{template "fields" .Fields}}{{end}}
{{if .Example}}<pre><code>{{.Example}}</code></pre>{{end}}
{{end}}<h4>Responses</h4>
<table><thead><tr><th>Status</th><th>Body</th><th>Description</th></tr></thead>
<tbody>{{range .Responses}}<tr><td class="status {{statusClass .Status}}">{{.Status}}</td>
<td>{{if .ContentType}}<code>{{.ContentType}}</code>{{end}}{{if .Schema}}<br>{{if .Link}}<a href="#{{.Link}}">{{.Schema}}</a>{{else}}{{.Schema}}{{end}}{{end}}{{range .Headers}}<br>header <code>{{.}}</code>{{end}}</td>
<td>{{template "spans" .Description}}{{range .Problems}}<br><code>{{.}}</code>{{end}}</td></tr>
{{end}}</tbody></table>
</article>
{{end}}</section>
{{end}}
<section id="schemas">
<h2>Schemas</h2>
{{range .Schemas}}<div class="schema" id="{{.Anchor}}">
<h3>{{.Name}}{{if .Type}} <span class="in">{{.Type}}</span>{{end}}</h3>
{{if .Description}}<p>{{template "spans" .Description}}</p>{{end}}
{{if .Rules}}<p>Rules: {{template "spans" .Rules}}.</p>{{end}}
{{if .Fields}}{{template "fields" .Fields}}{{end}}
</div>
{{end}}</section>
</main>
</body>
</html>
`
