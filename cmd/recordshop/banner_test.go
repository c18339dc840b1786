//go:build !nodev

package main

import (
	"maps"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/learecordshop/recordshop/biz/model"
)

const readmePath = "../../README.md"

func devBanner(t *testing.T, cfg config) string {
	t.Helper()
	var b strings.Builder
	printBanner(&b, cfg, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080})
	return b.String()
}

func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// shellBlocks returns the text of the README's ```sh blocks.
func shellBlocks(doc string) string {
	var out strings.Builder
	for _, part := range strings.Split(doc, "```sh\n")[1:] {
		block, _, _ := strings.Cut(part, "```")
		out.WriteString(block)
	}
	return out.String()
}

// TestBannerExportsTheReadmeVariables: the banner's export line sets exactly the variables the README's examples
// use without setting them themselves, so that after pasting it every example runs as written.
func TestBannerExportsTheReadmeVariables(t *testing.T) {
	cfg := config{HTTPAddr: ":8080", AdminTokens: []string{newToken("adm")}, StorefrontTokens: []string{newToken("sf")}}
	banner := devBanner(t, cfg)
	var exported map[string]string
	for _, line := range strings.Split(banner, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "export "); ok {
			exported = map[string]string{}
			for _, word := range strings.Fields(rest) {
				name, value, _ := strings.Cut(word, "=")
				exported[name] = value
			}
		}
	}
	want := map[string]string{"B": "http://localhost:8080", "ADMIN": cfg.AdminTokens[0], "SF": cfg.StorefrontTokens[0]}
	if !maps.Equal(exported, want) {
		t.Fatalf("the banner exports %v; want %v:\n%s", exported, want, banner)
	}

	sh := shellBlocks(readme(t))
	used, set := map[string]bool{}, map[string]bool{}
	for _, m := range regexp.MustCompile(`\$\{?([A-Z][A-Z0-9_]*)`).FindAllStringSubmatch(sh, -1) {
		used[m[1]] = true
	}
	for _, m := range regexp.MustCompile(`(?m)(?:^|[\s;(])([A-Z][A-Z0-9_]*)=`).FindAllStringSubmatch(sh, -1) {
		set[m[1]] = true
	}
	for name := range used {
		if _, ok := exported[name]; !ok && !set[name] {
			t.Errorf("the README's examples use $%s, which neither the banner nor the README sets", name)
		}
	}
	for name := range exported {
		if !used[name] {
			t.Errorf("the banner exports %s, which no README example uses", name)
		}
	}
}

// TestBannerLinks: the banner links the console, the docs and the OpenAPI document, and not the bare root.
func TestBannerLinks(t *testing.T) {
	banner := devBanner(t, config{HTTPAddr: "127.0.0.1:8080", AdminTokens: []string{newToken("adm")}, StorefrontTokens: []string{newToken("sf")}})
	for _, path := range []string{"/console", "/docs", "/openapi.json"} {
		if !strings.Contains(banner, "http://127.0.0.1:8080"+path+"\n") {
			t.Errorf("the banner does not link %s:\n%s", path, banner)
		}
	}
	for _, line := range strings.Split(banner, "\n") {
		if strings.HasSuffix(strings.TrimSpace(line), "http://127.0.0.1:8080") && !strings.Contains(line, "export ") {
			t.Errorf("the banner links the root: %q", line)
		}
	}
}

// TestDevTokensPassServesChecks: the tokens dev makes up are ones serve would take.
func TestDevTokensPassServesChecks(t *testing.T) {
	cfg := defaultConfig()
	cfg.PGURL, cfg.RedisURL = "postgres://localhost/x", "redis://localhost:6379/0"
	cfg.AdminTokens, cfg.StorefrontTokens = []string{newToken("adm")}, []string{newToken("sf")}
	if err := cfg.validate(true, true, true); err != nil {
		t.Fatal(err)
	}
	if err := cfg.refusePlaceholders(); err != nil {
		t.Fatal(err)
	}
}

// TestReadmeSignUpIsNotTaken: the README's sign-up example is a valid CPF that no seeded customer (demo or
// generated) and no banner example holds, with an email none of them holds, so pasting it answers 201, not 409.
func TestReadmeSignUpIsNotTaken(t *testing.T) {
	taken := map[string]bool{}
	for _, c := range demoCustomers() {
		taken[c.Document], taken[c.Email] = true, true
	}
	banner := devBanner(t, config{HTTPAddr: ":8080", AdminTokens: []string{"a"}, StorefrontTokens: []string{"s"}})
	document := regexp.MustCompile(`"document":"([^"]*)"`)
	email := regexp.MustCompile(`"email":"([^"]*)"`)
	for _, m := range document.FindAllStringSubmatch(banner, -1) {
		d, _ := model.NormalizeCPF(m[1])
		taken[d] = true
	}
	for _, m := range email.FindAllStringSubmatch(banner, -1) {
		taken[strings.ToLower(m[1])] = true
	}
	doc := readme(t)
	docs := document.FindAllStringSubmatch(doc, -1)
	if len(docs) == 0 {
		t.Fatal("the README signs nobody up")
	}
	for _, m := range docs {
		d, ok := model.NormalizeCPF(m[1])
		if !ok {
			t.Errorf("the README's CPF %s fails its check digits", m[1])
			continue
		}
		if taken[d] || isGeneratedCPF(d) {
			t.Errorf("the README's CPF %s is a seeded or banner customer's: signing it up answers 409", m[1])
		}
	}
	for _, m := range email.FindAllStringSubmatch(doc, -1) {
		if e := strings.ToLower(m[1]); taken[e] || strings.HasPrefix(e, "buyer-") {
			t.Errorf("the README's email %s is a seeded or banner customer's", m[1])
		}
	}
}

// isGeneratedCPF reports whether d is the CPF of a customer seed --customers generates.
func isGeneratedCPF(d string) bool {
	n, err := strconv.Atoi(d[:9])
	return err == nil && n > seedCPFBase && n <= seedCPFBase+maxSeedCustomers && model.CPFFromSeed(int64(n)) == d
}
