package console

import (
	"regexp"
	"strings"
	"testing"
)

// A browser runs an inline style or script only if the policy names its exact hash: a policy out of step with
// the page would serve a blank console.
func TestPagesCarryThePolicyOfTheirOwnInlineParts(t *testing.T) {
	for name, render := range map[string]func() (Page, error){"console": ConsolePage, "index": IndexPage} {
		t.Run(name, func(t *testing.T) {
			p, err := render()
			if err != nil {
				t.Fatal(err)
			}
			body := string(p.Body)
			if strings.Contains(body, "{{.") {
				t.Errorf("a placeholder is left in the page")
			}
			for _, tag := range []string{"style", "script"} {
				m := regexp.MustCompile(`(?s)<`+tag+`>(.*?)</`+tag+`>`).FindAllStringSubmatch(body, -1)
				if tag == "script" && name == "index" {
					if len(m) != 0 || strings.Contains(p.CSP, "script-src") {
						t.Errorf("the index page has a script or admits one")
					}
					continue
				}
				if len(m) != 1 {
					t.Fatalf("%d <%s> elements, want 1", len(m), tag)
				}
				if want := tag + "-src " + digest(m[0][1]); !strings.Contains(p.CSP, want) {
					t.Errorf("policy %q lacks %q", p.CSP, want)
				}
			}
			for _, must := range []string{"default-src 'none'", "frame-ancestors 'none'", "base-uri 'none'"} {
				if !strings.Contains(p.CSP, must) {
					t.Errorf("policy %q lacks %q", p.CSP, must)
				}
			}
			if strings.Contains(p.CSP, "unsafe-inline") || regexp.MustCompile(`(src|href)="(https?:)?//`).MatchString(body) {
				t.Errorf("the page admits any inline code, or loads something from elsewhere")
			}
		})
	}
}

// The script writes every value as text: a disc name is data, never markup.
func TestConsoleScriptNeverWritesMarkup(t *testing.T) {
	b, err := assets.ReadFile("assets/console.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("} {
		if strings.Contains(string(b), sink) {
			t.Errorf("console.js uses %s", sink)
		}
	}
	if !strings.Contains(string(b), "sessionStorage") || strings.Contains(string(b), "localStorage") {
		t.Errorf("console.js must keep the token in sessionStorage only")
	}
}
