package console

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"strings"
)

// The pages are written as separate files and served as one document each: the stylesheet and the script go
// inline, so a page is one request and works with no other route, CDN or network. Each is served with a
// Content-Security-Policy that admits only its own inline style and script (by hash) and lets the script
// talk to this origin alone: a disc name that held markup could not run, and the token the console keeps
// could not be sent anywhere else.
//
//go:embed assets
var assets embed.FS

// Page is a page ready to serve.
type Page struct {
	Body []byte
	CSP  string // the Content-Security-Policy header it is served with
}

// ConsolePage is the launch console, GET /console.
func ConsolePage() (Page, error) {
	return render("assets/console.html", "assets/console.css", "assets/console.js",
		"connect-src 'self'; img-src data:; form-action 'none'")
}

// IndexPage is the shop's root, GET /: links to the console, the docs and the operational endpoints.
func IndexPage() (Page, error) {
	return render("assets/index.html", "assets/index.css", "", "img-src data:")
}

// render puts css and js (may be "") inline into the page at {{.CSS}} and {{.JS}}, and makes its policy.
func render(page, css, js, more string) (Page, error) {
	read := func(name string) (string, error) {
		if name == "" {
			return "", nil
		}
		b, err := assets.ReadFile(name)
		if err != nil {
			return "", fmt.Errorf("console: %w", err)
		}
		return string(b), nil
	}
	html, err := read(page)
	if err != nil {
		return Page{}, err
	}
	style, err := read(css)
	if err != nil {
		return Page{}, err
	}
	script, err := read(js)
	if err != nil {
		return Page{}, err
	}
	for _, part := range []string{style, script} {
		if strings.Contains(part, "</") {
			// "</style>" or "</script>" inside would end the element early (and change the hash's meaning).
			return Page{}, fmt.Errorf("console: an inline part of %s holds \"</\"", page)
		}
	}
	body := strings.NewReplacer("{{.CSS}}", style, "{{.JS}}", script).Replace(html)
	csp := "default-src 'none'; style-src " + digest(style) + "; base-uri 'none'; frame-ancestors 'none'; " + more
	if script != "" {
		csp += "; script-src " + digest(script)
	}
	return Page{Body: []byte(body), CSP: csp}, nil
}

// digest is a CSP hash source for an inline element's exact text.
func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}
