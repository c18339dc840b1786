package problem_test

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/biz/problem"
)

// catalogued returns the entry of kind in problem.Kinds.
func catalogued(kind string) (problem.Kind, bool) {
	for _, k := range problem.Kinds {
		if k.Name == kind {
			return k, true
		}
	}
	return problem.Kind{}, false
}

func TestKindsAreWellFormed(t *testing.T) {
	name := regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)
	seen := map[string]bool{}
	for _, k := range problem.Kinds {
		if seen[k.Name] {
			t.Errorf("kind %q is listed twice", k.Name)
		}
		seen[k.Name] = true
		switch {
		case k.Name == problem.HTTPFamily:
			if k.Status != 0 {
				t.Errorf("%s has status %d; the family's status is each answer's own (0)", k.Name, k.Status)
			}
		case !name.MatchString(k.Name):
			t.Errorf("kind %q is not lower-case words joined by hyphens", k.Name)
		case k.Status < 400 || k.Status > 599:
			t.Errorf("kind %q has status %d, not an error status", k.Name, k.Status)
		}
		if k.When == "" || strings.ContainsAny(k.When, "|\n") {
			t.Errorf("kind %q: when %q must be one table cell (not empty, no | or newline)", k.Name, k.When)
		}
	}
	if !seen[problem.HTTPFamily] {
		t.Errorf("Kinds does not list %s, which ForStatus answers", problem.HTTPFamily)
	}
	for kind, want := range map[string]bool{"sold-out": true, "http-417": true, "http-<status>": true,
		"http-200": false, "http-4170": false, "http-": false, "sold_out": false, "": false} {
		if got := problem.Known(kind); got != want {
			t.Errorf("Known(%q) = %v, want %v", kind, got, want)
		}
	}
}

// wantKind checks that p is of kind and has the status Kinds gives it.
func wantKind(t *testing.T, p *problem.Problem, kind string) {
	t.Helper()
	got, ok := strings.CutPrefix(p.Type, problem.TypePrefix)
	if !ok || got != kind {
		t.Fatalf("type %q, want %s%s", p.Type, problem.TypePrefix, kind)
	}
	k, ok := catalogued(kind)
	if !ok {
		t.Fatalf("kind %q is answered but not in problem.Kinds", kind)
	}
	if p.Status != k.Status {
		t.Errorf("%s answered with %d; Kinds (and so the documents) say %d", kind, p.Status, k.Status)
	}
}

// TestFromAnswersListedKinds: every domain error maps to a kind of Kinds, with the status Kinds gives it.
func TestFromAnswersListedKinds(t *testing.T) {
	invalid := func(in string) error {
		return &model.ValidationError{In: in, Fields: []model.FieldError{{Field: "x", Detail: "is wrong"}}}
	}
	for _, tt := range []struct {
		err  error
		kind string
	}{
		{&model.SoldOutError{Left: 2}, "sold-out"},
		{fmt.Errorf("orders.place: %w", &model.SoldOutError{}), "sold-out"},
		{invalid("body"), "validation"},
		{invalid("query"), "invalid-query"},
		{invalid("path"), "invalid-path"},
		{invalid("header"), "invalid-header"},
		{invalid("cookie"), "internal"}, // a place From does not know is a bug, never a kind made up from it
		{&model.LimitError{Limit: 2, Left: 1}, "purchase-limit"},
		{&model.NotStartedError{StartsAt: time.Now()}, "sale-not-started"},
		{model.ErrCustomerInactive, "customer-inactive"},
		{model.ErrUnknownDisc, "not-found"},
		{model.ErrUnknownCustomer, "not-found"},
		{model.ErrKeyReused, "idempotency-key-reused"},
		{&model.BacklogError{RetryAfter: time.Second}, "backlog"},
		{&model.NotPersistedError{RetryAfter: time.Second}, "order-not-persisted"},
		{model.ErrNotFound, "not-found"},
		{&model.ConflictError{Constraint: "customers_email_key"}, "conflict"},
		{&model.StockLimitError{Stock: 9}, "stock-limit"},
		{&model.InsufficientStockError{Stock: 1}, "insufficient-stock"},
		{model.ErrArchived, "disc-archived"},
		{model.ErrLimitAfterSales, "limit-after-sales"},
		{model.ErrConcurrentChange, "concurrent-change"},
		{model.ErrConstraint, "validation"},
		{model.ErrPartitionsDisagree, "partitions-disagree"},
		{model.ErrOutcomeUnknown, "unavailable"},
		{model.ErrUnavailable, "unavailable"},
		{context.Canceled, "client-closed"},
		{errors.New("anything else"), "internal"},
	} {
		t.Run(fmt.Sprintf("%T %v", tt.err, tt.err), func(t *testing.T) {
			wantKind(t, problem.From(tt.err), tt.kind)
		})
	}
}

// TestForStatusAnswersListedKinds: whatever error status the framework sets, its problem is of a listed kind.
func TestForStatusAnswersListedKinds(t *testing.T) {
	for status := 400; status <= 599; status++ {
		p := problem.ForStatus(status, "")
		kind := strings.TrimPrefix(p.Type, problem.TypePrefix)
		if !problem.Known(kind) || p.Status != status {
			t.Errorf("ForStatus(%d) = %s with status %d; want a kind of problem.Kinds with status %d", status, p.Type, p.Status, status)
			continue
		}
		if k, ok := catalogued(kind); ok && k.Name != "internal" && k.Status != status {
			t.Errorf("ForStatus(%d) = %s, which Kinds lists with status %d", status, kind, k.Status)
		}
	}
}

// TestEveryKindInTheCodeIsListed reads the module's source: every problem the code makes with New names a
// kind of Kinds as a literal, with the status Kinds gives it, and every kind of Kinds is made somewhere (a
// kind nobody answers any more would stay documented). Each place a validation error can come from maps to
// a kind, not to the 500 of a place From does not know.
func TestEveryKindInTheCodeIsListed(t *testing.T) {
	src := scanModule(t)
	if len(src.news) < 20 {
		t.Fatalf("found %d calls of problem.New in the module; the scan is broken", len(src.news))
	}
	made := map[string]bool{}
	for _, n := range src.news {
		if n.kind == "" {
			t.Errorf("%s: the kind given to New is not a string literal; name it, and list it in problem.Kinds", n.pos)
			continue
		}
		made[n.kind] = true
		k, ok := catalogued(n.kind)
		switch {
		case !ok:
			t.Errorf("%s: kind %q is answered but not listed in problem.Kinds (then run go generate ./biz/problem)", n.pos, n.kind)
		case n.status != 0 && n.status != k.Status:
			t.Errorf("%s: kind %q is answered with %d; problem.Kinds says %d", n.pos, n.kind, n.status, k.Status)
		}
	}
	for _, k := range problem.Kinds {
		if k.Name != problem.HTTPFamily && !made[k.Name] {
			t.Errorf("problem.Kinds lists %q, which no code answers: drop it (and run go generate ./biz/problem)", k.Name)
		}
	}
	if len(src.places) == 0 {
		t.Fatal("found no place a validation error comes from; the scan is broken")
	}
	for place, pos := range src.places {
		p := problem.From(&model.ValidationError{In: place})
		if kind := strings.TrimPrefix(p.Type, problem.TypePrefix); kind == "internal" {
			t.Errorf("%s: validation errors in %q are answered 500: map the place in problem.From", pos, place)
		}
	}
}

// newCall is one call of problem.New: its kind ("" when not a literal) and status (0 when not a constant).
type newCall struct {
	pos    token.Position
	kind   string
	status int
}

type source struct {
	news   []newCall
	places map[string]token.Position // the In of validation errors written as literals, where first seen
}

// scanModule parses every non-test Go file of the module.
func scanModule(t *testing.T) source {
	t.Helper()
	root := moduleRoot(t)
	statuses := statusNames()
	src := source{places: map[string]token.Position{}}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "vendor" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		text, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path) // positions read from the module's root
		f, err := parser.ParseFile(fset, rel, text, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		src.scanFile(t, fset, f, statuses)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func (s *source) scanFile(t *testing.T, fset *token.FileSet, f *ast.File, statuses map[string]int) {
	const problemPath = "github.com/learecordshop/recordshop/biz/problem"
	local := "" // the name problem is imported as in f; "" when f does not import it
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == problemPath {
			local = "problem"
			if imp.Name != nil {
				local = imp.Name.Name
			}
		}
	}
	inProblem := f.Name.Name == "problem"
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CallExpr:
			if isNew(n.Fun, inProblem, local) && len(n.Args) == 4 {
				s.news = append(s.news, newCall{pos: fset.Position(n.Pos()), kind: stringLit(n.Args[1]),
					status: statusOf(t, fset, n.Args[0], statuses)})
			}
		case *ast.CompositeLit:
			if !isValidationLit(n.Type) {
				return true
			}
			for _, e := range n.Elts {
				kv, ok := e.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				key, _ := kv.Key.(*ast.Ident)
				place := stringLit(kv.Value)
				if key == nil || (key.Name != "In" && key.Name != "in") || place == "" {
					continue
				}
				if _, seen := s.places[place]; !seen {
					s.places[place] = fset.Position(kv.Pos())
				}
			}
		}
		return true
	})
}

// isNew reports whether fun is problem.New (New inside package problem itself).
func isNew(fun ast.Expr, inProblem bool, local string) bool {
	switch f := fun.(type) {
	case *ast.Ident:
		return inProblem && f.Name == "New"
	case *ast.SelectorExpr:
		x, ok := f.X.(*ast.Ident)
		return ok && local != "" && x.Name == local && f.Sel.Name == "New"
	}
	return false
}

// isValidationLit reports whether typ is model's ValidationError or its fieldErrors collector.
func isValidationLit(typ ast.Expr) bool {
	switch t := typ.(type) {
	case *ast.Ident:
		return t.Name == "ValidationError" || t.Name == "fieldErrors"
	case *ast.SelectorExpr:
		return t.Sel.Name == "ValidationError"
	}
	return false
}

func stringLit(e ast.Expr) string {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return ""
	}
	s, _ := strconv.Unquote(lit.Value)
	return s
}

// statusOf reads a status argument: a number, or net/http's constant; 0 for a variable.
func statusOf(t *testing.T, fset *token.FileSet, e ast.Expr, statuses map[string]int) int {
	switch v := e.(type) {
	case *ast.BasicLit:
		n, _ := strconv.Atoi(v.Value)
		return n
	case *ast.SelectorExpr:
		if n, ok := statuses[v.Sel.Name]; ok {
			return n
		}
		t.Errorf("%s: cannot read the status %s; write a net/http Status constant or a number", fset.Position(v.Pos()), v.Sel.Name)
	}
	return 0
}

// statusNames maps net/http's Status constant names to their codes, from the status texts they are named
// after ("Request Entity Too Large" is StatusRequestEntityTooLarge).
func statusNames() map[string]int {
	out := map[string]int{}
	for code := 400; code <= 599; code++ {
		if text := http.StatusText(code); text != "" {
			out["Status"+strings.NewReplacer(" ", "", "-", "", "'", "").Replace(text)] = code
		}
	}
	return out
}

// moduleRoot is the nearest directory above the test's that holds go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}
