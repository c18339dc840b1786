// Package middleware holds what wraps every request: bearer-token auth by role (constant-time, several tokens
// per role), the HTTP framing checks Hertz lets through, Prometheus metrics per route, the access log with a
// request id (no query strings, no bodies: they hold personal data), and panic recovery.
//
// It owns the request's way in and out, not its meaning: it must not know a route's business (biz/router says
// which role a route needs), read a body, or touch a store or a service.
package middleware

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/cloudwego/hertz/pkg/app"

	"github.com/learecordshop/recordshop/biz/problem"
)

// Role is who may call a route.
type Role string

// The roles. Admin may do everything storefront may.
const (
	Public     Role = "public"
	Storefront Role = "storefront"
	Admin      Role = "admin"
)

// Tokens holds the bearer tokens of each role; several per role allow rotation. Only SHA-256 digests are kept,
// so every comparison is of equal length and constant time.
type Tokens struct {
	admin, storefront [][sha256.Size]byte
}

// NewTokens builds the token sets from their plain values.
func NewTokens(admin, storefront []string) Tokens {
	digest := func(tokens []string) [][sha256.Size]byte {
		out := make([][sha256.Size]byte, len(tokens))
		for i, t := range tokens {
			out[i] = sha256.Sum256([]byte(t))
		}
		return out
	}
	return Tokens{admin: digest(admin), storefront: digest(storefront)}
}

// roleOf returns the role a token grants. It compares against every token of every role without stopping early,
// so the time taken says nothing about which (if any) matched.
func (t Tokens) roleOf(token string) (Role, bool) {
	d := sha256.Sum256([]byte(token))
	var isAdmin, isStorefront int
	for _, a := range t.admin {
		isAdmin |= subtle.ConstantTimeCompare(d[:], a[:])
	}
	for _, s := range t.storefront {
		isStorefront |= subtle.ConstantTimeCompare(d[:], s[:])
	}
	switch {
	case isAdmin == 1:
		return Admin, true
	case isStorefront == 1:
		return Storefront, true
	}
	return "", false
}

// Require lets a request through only with a bearer token of role (an admin token passes storefront routes).
func Require(tokens Tokens, role Role) app.HandlerFunc {
	return func(ctx context.Context, c *app.RequestContext) {
		if role == Public {
			c.Next(ctx)
			return
		}
		header := string(c.GetHeader("Authorization"))
		// The scheme is case-insensitive (RFC 9110 section 11.1).
		scheme, token, ok := strings.Cut(header, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
			c.Header("WWW-Authenticate", `Bearer realm="recordshop"`)
			problem.Write(c, problem.New(http.StatusUnauthorized, "unauthorized", "Authentication required",
				"Send Authorization: Bearer <token>."))
			c.Abort()
			return
		}
		got, ok := tokens.roleOf(token)
		if !ok {
			c.Header("WWW-Authenticate", `Bearer realm="recordshop", error="invalid_token"`)
			problem.Write(c, problem.New(http.StatusUnauthorized, "unauthorized", "Invalid token", "The bearer token is not recognised."))
			c.Abort()
			return
		}
		if role == Admin && got != Admin {
			problem.Write(c, problem.New(http.StatusForbidden, "forbidden", "Forbidden", "This needs an admin token."))
			c.Abort()
			return
		}
		c.Next(ctx)
	}
}
