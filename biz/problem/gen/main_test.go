package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/learecordshop/recordshop/biz/problem"
)

func readFile(t *testing.T, rel string) []byte {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTablesAreUpToDate fails while README.md or the OpenAPI document lists other kinds than problem.Kinds,
// or other words for them: both tables are what the generator would write now.
func TestTablesAreUpToDate(t *testing.T) {
	for _, f := range []struct {
		path    string
		rewrite func([]byte, []problem.Kind) ([]byte, error)
	}{{readmePath, rewriteREADME}, {openAPIPath, rewriteOpenAPI}} {
		t.Run(f.path, func(t *testing.T) {
			now := readFile(t, f.path)
			want, err := f.rewrite(now, problem.Kinds)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(strings.Split(string(want), "\n"), strings.Split(string(now), "\n")); diff != "" {
				t.Errorf("the error table of %s is stale; run go generate ./biz/problem (-generated +file):\n%s", f.path, diff)
			}
		})
	}
}

// TestREADMENamesNoUnknownKind: a type URI anywhere in the README, outside the generated table too, is of a
// listed kind.
func TestREADMENamesNoUnknownKind(t *testing.T) {
	uri := regexp.MustCompile(regexp.QuoteMeta(problem.TypePrefix) + `([a-z0-9<>-]*)`)
	for _, m := range uri.FindAllStringSubmatch(string(readFile(t, readmePath)), -1) {
		if m[1] != "<kind>" && !problem.Known(m[1]) {
			t.Errorf("README.md names %s, which is not in problem.Kinds", m[0])
		}
	}
}

func TestRewriteREADME(t *testing.T) {
	kinds := []problem.Kind{{Name: "sold-out", Status: 409, When: "none left"}, {Name: problem.HTTPFamily, When: "other"}}
	doc := "# Shop\n\ntext\n" + readmeBegin + "\n| old | table |\n" + readmeEnd + "\n\nmore text\n"
	got, err := rewriteREADME([]byte(doc), kinds)
	if err != nil {
		t.Fatal(err)
	}
	want := "# Shop\n\ntext\n" + readmeBegin + "\n| status | kind | when |\n|---|---|---|\n" +
		"| 409 | `sold-out` | none left |\n| 4xx | `http-<status>` | other |\n" + readmeEnd + "\n\nmore text\n"
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("rewritten README (-want +got):\n%s", diff)
	}
	again, err := rewriteREADME(got, kinds)
	if err != nil || string(again) != string(got) {
		t.Errorf("a second run changed the README: %v\n%s", err, again)
	}

	for name, doc := range map[string]string{
		"no markers":       "# Shop\n| status | kind | when |\n",
		"no end marker":    readmeBegin + "\n| a |\n",
		"markers twice":    readmeBegin + "\n" + readmeEnd + "\n" + readmeBegin + "\n" + readmeEnd + "\n",
		"end before begin": readmeEnd + "\n" + readmeBegin + "\n",
	} {
		if _, err := rewriteREADME([]byte(doc), kinds); err == nil {
			t.Errorf("%s: rewritten without an error", name)
		}
	}
	if _, err := rewriteREADME([]byte(doc), []problem.Kind{{Name: "a|b", Status: 400, When: "x"}}); err == nil {
		t.Error("a kind with | in it was written into a table row")
	}
}

func TestRewriteOpenAPI(t *testing.T) {
	kinds := []problem.Kind{{Name: "sold-out", Status: 409, When: "fewer than `asked` <units> & \"quotes\""}}
	doc := `{"info": {"description": "## Errors\nSee:\n\n| Type | Status | When |\n| --- | --- | --- |\n| old | 1 | x |\n\n## Next\nrest"}, "paths": {}}`
	got, err := rewriteOpenAPI([]byte(doc), kinds)
	if err != nil {
		t.Fatal(err)
	}
	var parsed struct {
		Info struct{ Description string } `json:"info"`
	}
	if err := json.Unmarshal(got, &parsed); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, got)
	}
	want := "## Errors\nSee:\n\n| Type | Status | When |\n| --- | --- | --- |\n" +
		"| `urn:recordshop:problem:sold-out` | 409 | fewer than `asked` <units> & \"quotes\" |\n\n## Next\nrest"
	if diff := cmp.Diff(want, parsed.Info.Description); diff != "" {
		t.Errorf("description (-want +got):\n%s", diff)
	}
	if !strings.HasSuffix(string(got), `\n\n## Next\nrest"}, "paths": {}}`) || !strings.Contains(string(got), "<units> &") {
		t.Errorf("the rest of the document changed, or <, > and & were escaped:\n%s", got)
	}
	for name, doc := range map[string]string{
		"no table":       `{"info": {"description": "## Errors\n"}}`,
		"two tables":     `{"a": "| Type | Status | When |\n| --- | --- | --- |\n\n", "b": "| Type | Status | When |\n| --- | --- | --- |\n\n"}`,
		"no blank after": `{"info": {"description": "| Type | Status | When |\n| --- | --- | --- |\n| old | 1 | x |"}}`,
	} {
		if _, err := rewriteOpenAPI([]byte(doc), kinds); err == nil {
			t.Errorf("%s: rewritten without an error", name)
		}
	}
}
