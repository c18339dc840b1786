package middleware

import (
	"bytes"
	"context"
	"net/http"

	"github.com/cloudwego/hertz/pkg/app"

	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/biz/problem"
)

// singletonHeaders may each be sent at most once. Hertz keeps the first (or the last) of a repeated header
// silently, so two Authorization headers would authenticate with whichever it kept, and two Idempotency-Keys
// would make a retry's meaning depend on a proxy's ordering.
var singletonHeaders = [...]string{"Authorization", "Content-Type", "Content-Length", "Host", "Idempotency-Key"}

// nonEmptyHeaders, when sent, must carry a value: an empty Idempotency-Key is a client bug, not "no key".
var nonEmptyHeaders = []string{"Idempotency-Key"}

// Framing refuses what HTTP/1.1 forbids and Hertz lets through: a method that is not a token or a request
// target with bytes outside visible ASCII (400 malformed-request), a repeated singleton header, or an empty
// header that needs a value (400 invalid-header). It reads the raw header block, where repeats are still
// visible.
func Framing() app.HandlerFunc {
	return func(ctx context.Context, c *app.RequestContext) {
		if !isToken(c.Request.Header.Method()) || !isVisibleASCII(c.Request.Header.RequestURI()) {
			problem.Write(c, problem.ForStatus(http.StatusBadRequest, "The request line is not valid HTTP/1.1."))
			c.Abort()
			return
		}
		if err := checkHeaders(c.Request.Header.RawHeaders()); err != nil {
			problem.Write(c, problem.From(err))
			c.Abort()
			return
		}
		c.Next(ctx)
	}
}

// isToken reports whether b is an RFC 9110 token (a method name).
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, ch := range b {
		if ch <= ' ' || ch >= 0x7F || bytes.IndexByte([]byte(`"(),/:;<=>?@[\]{}`), ch) >= 0 {
			return false
		}
	}
	return true
}

// isVisibleASCII reports whether b is non-empty and has only visible ASCII (RFC 9112's request-target).
func isVisibleASCII(b []byte) bool {
	for _, ch := range b {
		if ch <= ' ' || ch >= 0x7F {
			return false
		}
	}
	return len(b) > 0
}

// isHeader reports whether name is header h, in any case (names are ASCII: a length that differs settles it).
func isHeader(name []byte, h string) bool {
	return len(name) == len(h) && bytes.EqualFold(name, []byte(h))
}

func checkHeaders(raw []byte) error {
	var counts [len(singletonHeaders)]int
	var fields []model.FieldError
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		name = bytes.TrimSpace(name)
		for i, h := range singletonHeaders {
			if isHeader(name, h) {
				counts[i]++
			}
		}
		for _, h := range nonEmptyHeaders {
			if isHeader(name, h) && len(bytes.TrimSpace(value)) == 0 {
				fields = append(fields, model.FieldError{Field: h, Detail: "must not be empty when sent"})
			}
		}
	}
	for i, h := range singletonHeaders {
		if counts[i] > 1 {
			fields = append(fields, model.FieldError{Field: h, Detail: "must be sent at most once"})
		}
	}
	if len(fields) > 0 {
		return &model.ValidationError{In: "header", Fields: fields}
	}
	return nil
}
