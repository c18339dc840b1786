// Command gen writes the error tables of README.md and of the OpenAPI document (biz/apidoc/openapi.json) from
// problem.Kinds, so that the kinds the API answers are listed in one place. Run it as `go generate
// ./biz/problem` (or `go run ./biz/problem/gen`) from anywhere in the module after changing Kinds; the tests
// of this package fail while either table is stale.
//
// It rewrites only the tables: in README.md the lines between its two markers, in the OpenAPI document the
// table of the description's Errors section, found by its header row. The rest of both files is left byte
// for byte as it was, so that hand edits elsewhere in them survive.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/learecordshop/recordshop/biz/problem"
)

// The files it writes, from the module's root.
const (
	readmePath  = "README.md"
	openAPIPath = "biz/apidoc/openapi.json"
)

// The README's table sits between these lines.
const (
	readmeBegin = "<!-- problem kinds: generated from biz/problem/kinds.go by `go generate ./biz/problem`; edit them there -->"
	readmeEnd   = "<!-- end of problem kinds -->"
)

// openAPIHeader starts the table in the document's description (Markdown inside a JSON string, so a newline
// is the two characters \n in the file).
const openAPIHeader = `| Type | Status | When |\n| --- | --- | --- |\n`

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(out io.Writer) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	for _, f := range []struct {
		path    string
		rewrite func([]byte, []problem.Kind) ([]byte, error)
	}{{readmePath, rewriteREADME}, {openAPIPath, rewriteOpenAPI}} {
		path := filepath.Join(root, f.path)
		old, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		updated, err := f.rewrite(old, problem.Kinds)
		if err != nil {
			return fmt.Errorf("%s: %w", f.path, err)
		}
		if bytes.Equal(old, updated) {
			fmt.Fprintf(out, "%s: up to date\n", f.path)
			continue
		}
		if err := os.WriteFile(path, updated, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(out, "%s: error table rewritten\n", f.path)
	}
	return nil
}

// moduleRoot is the nearest directory at or above the working one that holds go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod at or above the working directory")
		}
		dir = parent
	}
}

// rewriteREADME replaces the lines between the README's markers with the table of kinds.
func rewriteREADME(src []byte, kinds []problem.Kind) ([]byte, error) {
	text := string(src)
	if strings.Count(text, readmeBegin) != 1 || strings.Count(text, readmeEnd) != 1 {
		return nil, fmt.Errorf("want the markers %q and %q once each", readmeBegin, readmeEnd)
	}
	head, rest, _ := strings.Cut(text, readmeBegin+"\n")
	_, tail, found := strings.Cut(rest, readmeEnd)
	if !found {
		return nil, errors.New("the end marker comes before the begin marker")
	}
	table, err := readmeTable(kinds)
	if err != nil {
		return nil, err
	}
	return []byte(head + readmeBegin + "\n" + table + readmeEnd + tail), nil
}

// rewriteOpenAPI replaces the description's error table, from its header row to the blank line after it.
func rewriteOpenAPI(src []byte, kinds []problem.Kind) ([]byte, error) {
	text := string(src)
	if n := strings.Count(text, openAPIHeader); n != 1 {
		return nil, fmt.Errorf("found the error table's header row %d times; want it once", n)
	}
	head, rest, _ := strings.Cut(text, openAPIHeader)
	_, tail, found := strings.Cut(rest, `\n\n`)
	if !found {
		return nil, errors.New("nothing follows the error table in the description; it must end with a blank line")
	}
	table, err := openAPITable(kinds)
	if err != nil {
		return nil, err
	}
	inJSON, err := jsonText(table)
	if err != nil {
		return nil, err
	}
	updated := head + inJSON + `\n\n` + tail
	if !json.Valid([]byte(updated)) {
		return nil, errors.New("the rewritten document is not JSON")
	}
	return []byte(updated), nil
}

// readmeTable is the README's table: the short kind names, status first, one line per row.
func readmeTable(kinds []problem.Kind) (string, error) {
	var b strings.Builder
	b.WriteString("| status | kind | when |\n|---|---|---|\n")
	for _, k := range kinds {
		if err := checkCell(k); err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s |\n", status(k), k.Name, k.When)
	}
	return b.String(), nil
}

// openAPITable is the OpenAPI description's table, with the full type URIs that clients compare. It ends
// with its last row, without a newline (the blank line after it is the document's).
func openAPITable(kinds []problem.Kind) (string, error) {
	var b strings.Builder
	b.WriteString("| Type | Status | When |\n| --- | --- | --- |")
	for _, k := range kinds {
		if err := checkCell(k); err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "\n| `%s%s` | %s | %s |", problem.TypePrefix, k.Name, status(k), k.When)
	}
	return b.String(), nil
}

func status(k problem.Kind) string {
	if k.Status == 0 {
		return "4xx"
	}
	return strconv.Itoa(k.Status)
}

// checkCell refuses a kind that would break its table row.
func checkCell(k problem.Kind) error {
	if k.Name == "" || k.When == "" || strings.ContainsAny(k.Name+k.When, "|\n") {
		return fmt.Errorf("kind %q: a name and a when, neither with | or a newline, are needed for a table row", k.Name)
	}
	return nil
}

// jsonText is s as it is written inside a JSON string, without the quotes; <, > and & stay as they are, the
// way the document is written.
func jsonText(s string) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return "", err
	}
	quoted := strings.TrimSuffix(b.String(), "\n")
	return quoted[1 : len(quoted)-1], nil
}
