package main

import (
	"context"
	"strings"
	"testing"
)

// TestServeRefusesPlaceholderTokens: serve refuses, before it connects to anything, a token that anybody who
// read the shipped files knows or could guess, and says which variable holds it without showing it.
func TestServeRefusesPlaceholderTokens(t *testing.T) {
	const admin, storefront = "3f9c1e7a5b2d4c6e8f0a1b2c3d4e5f60", "9a8b7c6d5e4f30211f2e3d4c5b6a7980"
	tests := []struct {
		name              string
		admin, storefront string
		want              string // part of the error; "" = accepted
	}{
		{"random tokens", admin, storefront, ""},
		{"several random tokens", admin + "," + strings.ToUpper(admin), storefront, ""},
		{"docker-compose.yml's old default", "dev-admin-token-change-me", storefront, "RS_ADMIN_TOKENS: token 1 of 1 looks like a placeholder"},
		{"the old Kubernetes Secret", "CHANGE-ME-admin-token-1,CHANGE-ME-admin-token-2", "CHANGE-ME-storefront-token-1", "RS_STOREFRONT_TOKENS: token 1 of 1"},
		{"changeme run together", admin, "storefront-changeme-0001", `"changeme"`},
		{"change_me with underscores", admin, "storefront_Change_Me_0001", `"changeme"`},
		{"second token of a rotation", admin + ",admin-token-change-me-2", storefront, "RS_ADMIN_TOKENS: token 2 of 2"},
		{"example", "example-admin-token-0001", storefront, `"example"`},
		{"EXAMPLE in capitals", admin, "STOREFRONT-EXAMPLE-TOKEN", `"example"`},
		{"placeholder", "placeholder-admin-token", storefront, `"placeholder"`},
		{"your-token", admin, "your-token-goes-here-0001", `"yourtoken"`},
		{"YOUR_TOKEN", "YOUR_TOKEN_HERE_0123456", storefront, `"yourtoken"`},
		{"replace-me", "replace-me-0123456789", storefront, `"replaceme"`},
		{"shorter than 16 characters", "0123456789abcde", storefront, "at least 16 characters"},
		{"one token for both roles", admin, storefront + "," + admin, "share 1 token(s)"},
		{"no storefront token", admin, "", "RS_STOREFRONT_TOKENS must hold at least one token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := env(map[string]string{
				// Nothing listens on port 1: a token that passed would show as a failed connection instead.
				"RS_PG_URL":            "postgres://app@127.0.0.1:1/shop?connect_timeout=1",
				"RS_REDIS_URL":         "redis://127.0.0.1:1/0",
				"RS_ADMIN_TOKENS":      tt.admin,
				"RS_STOREFRONT_TOKENS": tt.storefront,
			})
			var stdout, stderr strings.Builder
			err := run(context.Background(), []string{"serve", "--http-addr", "127.0.0.1:0"}, getenv, &stdout, &stderr)
			if tt.want == "" {
				if err == nil || isTokenError(err) {
					t.Fatalf("serve with good tokens: %v; want it past the token checks, failing to connect", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v; want one containing %q", err, tt.want)
			}
			for _, tok := range strings.Split(tt.admin+","+tt.storefront, ",") {
				if tok != "" && strings.Contains(err.Error(), tok) {
					t.Fatalf("the error shows the token %q: %v", tok, err)
				}
			}
		})
	}
}

func isTokenError(err error) bool {
	return strings.Contains(err.Error(), "_TOKENS")
}

// TestPlaceholderTokensAreServesAlone: the placeholder check is serve's. The other commands take no tokens to
// the world (dev makes up its own), so a leftover placeholder in the environment does not stop them.
func TestPlaceholderTokensAreServesAlone(t *testing.T) {
	getenv := env(map[string]string{
		"RS_PG_URL":            "postgres://app@127.0.0.1:1/shop?connect_timeout=1",
		"RS_REDIS_URL":         "redis://127.0.0.1:1/0",
		"RS_ADMIN_TOKENS":      "dev-admin-token-change-me",
		"RS_STOREFRONT_TOKENS": "dev-storefront-token-change-me",
	})
	for _, cmd := range []string{"migrate", "seed"} {
		t.Run(cmd, func(t *testing.T) {
			var stdout, stderr strings.Builder
			err := run(context.Background(), []string{cmd}, getenv, &stdout, &stderr)
			if err == nil || isTokenError(err) {
				t.Fatalf("%s: %v; want it past the token checks, failing to connect", cmd, err)
			}
		})
	}
}

// TestCursorKeyPlaceholder: RS_CURSOR_KEY signs list cursors; a known one would let anybody forge them.
func TestCursorKeyPlaceholder(t *testing.T) {
	for key, refused := range map[string]bool{"": false, "6c1f0e9d8c7b6a5948372615f4e3d2c1": false, "cursor-key-change-me": true} {
		err := config{CursorKey: key}.refusePlaceholders()
		if (err != nil) != refused || (refused && !strings.Contains(err.Error(), "RS_CURSOR_KEY")) {
			t.Errorf("RS_CURSOR_KEY=%q: %v; want refused=%v", key, err, refused)
		}
	}
}
