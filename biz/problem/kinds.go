package problem

import "strings"

//go:generate go run ./gen

// Kind is one stable kind of problem: the part of the type URI after TypePrefix, the status it is answered
// with and, for the documents, when a client gets it.
type Kind struct {
	Name string
	// Status is the HTTP status of the kind; 0 for the http-<status> family, whose status is its own.
	Status int
	// When says, for people and in Markdown, when the kind is answered (one table cell: no "|", no newline).
	When string
}

// Kinds is every kind of problem the API answers, in the order the documents list them. It is the one list
// that the error tables of README.md and of the OpenAPI document are generated from (go generate
// ./biz/problem), so neither can drift from it; the tests fail when code answers a kind that is not here,
// when a document names one that is not, or when a generated table is stale.
var Kinds = []Kind{
	{"malformed-json", 400, "the body is empty, not JSON, not valid UTF-8, or has something after its object"},
	{"invalid-query", 400, "a list query parameter is invalid, repeated or unknown, or a `cursor` is not one this shop " +
		"signed for this list and sort; a `/v1/admin/reconcile` parameter is invalid or unknown; `errors` names each"},
	{"invalid-path", 400, "the `{id}` in the path is not a positive whole number in canonical decimal (`01` and `+1` " +
		"are refused); an order's is not a UUID in its 8-4-4-4-12 form"},
	{"invalid-header", 400, "the `Idempotency-Key` header is sent empty or is not 1 to 64 letters, digits or `. _ : -`; " +
		"or `Authorization`, `Content-Type`, `Content-Length`, `Host` or `Idempotency-Key` is sent more than once; " +
		"`errors` names the header"},
	{"malformed-request", 400, "the request is not valid HTTP/1.1: a bad request line (a method that is not a token, " +
		"a target with bytes outside visible ASCII), a malformed header or `Content-Length`, no `Host`. The " +
		"connection is closed"},
	{"unauthorized", 401, "no bearer token, or one that is not recognised; the answer carries `WWW-Authenticate: Bearer`"},
	{"forbidden", 403, "the token's role may not call this route (a storefront token on an admin route)"},
	{"customer-inactive", 403, "the customer is deactivated and cannot buy"},
	{"not-found", 404, "no such customer, disc, order or endpoint; placing an order: no such customer, or no disc on " +
		"sale with that id. A path ending in `/` is another path and is not found (never redirected)"},
	{"method-not-allowed", 405, "the path exists but does not take this method; `Allow` lists the ones it takes"},
	{"request-timeout", 408, "the request line, headers and body did not all arrive within 10 s of the first byte (or " +
		"of the previous answer, on a kept-alive connection). The connection is closed"},
	{"conflict", 409, "a customer's document or email is already registered; `errors` names the field"},
	{"concurrent-change", 409, "another change of the same disc won the race; repeat the request after `Retry-After` seconds"},
	{"insufficient-stock", 409, "a negative restock would drive stock below zero"},
	{"stock-limit", 409, "a restock would take stock above 10,000,000; `stock` and `max_stock` say where it stands"},
	{"disc-archived", 409, "the disc is archived and can no longer change"},
	{"limit-after-sales", 409, "a PATCH would give a per-customer limit to a disc that has sold units without one: set " +
		"the limit before the sale"},
	{"sold-out", 409, "fewer units are left than the order asks for; `units_left` says how many are"},
	{"purchase-limit", 409, "the order would take the customer over the disc's per-customer limit; `units_allowed` " +
		"says how many more they may buy"},
	{"sale-not-started", 409, "the disc's sale has not started; `starts_at` says when it does"},
	{"order-not-persisted", 409, "a cancel found the order still on its way to Postgres; retry after `Retry-After` seconds"},
	{"not-applicable", 409, "`/v1/admin/reconcile` on a deployment that reserves in Postgres only " +
		"(`RS_RESERVE_MODE=postgres`): there is no second store to reconcile"},
	{"partitions-disagree", 409, "`/v1/admin/reconcile`: Redis records another partition count than this " +
		"deployment's `RS_PARTITIONS`; `detail` gives both"},
	{"body-too-large", 413, "the body is over 65536 bytes (64 KiB)"},
	{"unsupported-media-type", 415, "a request with a body has no `Content-Type`, or one that is neither " +
		"`application/json` nor `+json` (`multipart/form-data` and forms included)"},
	{"validation", 422, "a body field is missing, out of range, of the wrong JSON type, not a known field (names are " +
		"case-sensitive), given twice, or `null` in a PATCH; see Input rules. `errors` names each field"},
	{"idempotency-key-reused", 422, "the `Idempotency-Key` was already used for this customer and disc with another " +
		"quantity; `errors` names the header"},
	{"headers-too-large", 431, "the request line and headers are over 16 KiB"},
	{"client-closed", 499, "the client went away before its answer was ready. Nobody receives it: it is the status " +
		"the access log and the request metrics record"},
	{"internal", 500, "anything unexpected; the cause is logged, never answered"},
	{"backlog", 503, "too many confirmed orders wait to be recorded in Postgres; retry after `Retry-After` seconds"},
	{"unavailable", 503, "Postgres or Redis is restarting or unreachable; or, placing an order, Redis did not answer " +
		"in time, so the order may or may not have been placed: retry with the same `Idempotency-Key`, which never " +
		"places it twice. Retry after `Retry-After` seconds"},
	{"not-ready", 503, "`/readyz`: Postgres or Redis does not answer"},
	{HTTPFamily, 0, "an error status of the HTTP server that none of the kinds above explains (none is expected); " +
		"the status is the server's and `title` is its standard text"},
}

// HTTPFamily names, in Kinds, the kinds "http-<status>" that ForStatus gives a status it has no kind for.
const HTTPFamily = "http-<status>"

// Known reports whether kind is one of Kinds, the http-<status> family included.
func Known(kind string) bool {
	for _, k := range Kinds {
		if k.Name == kind {
			return true
		}
	}
	return isHTTPFamily(kind)
}

// isHTTPFamily reports whether kind is "http-" and a 4xx or 5xx status.
func isHTTPFamily(kind string) bool {
	n, ok := strings.CutPrefix(kind, "http-")
	if !ok || len(n) != 3 || (n[0] != '4' && n[0] != '5') {
		return false
	}
	return n[1] >= '0' && n[1] <= '9' && n[2] >= '0' && n[2] <= '9'
}
