package middleware

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"runtime/debug"
	"time"

	"github.com/cloudwego/hertz/pkg/app"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/learecordshop/recordshop/biz/problem"
)

// RequestIDHeader carries the request id, taken from the caller when given, else made here.
const RequestIDHeader = "X-Request-Id"

// requestIDPattern is what a caller's request id may hold to be kept: it is logged and echoed, so free text
// (which could carry personal data or control characters) is replaced by an id made here.
var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// AccessLog logs one line per request with its id, route, status and latency: at debug level for answers
// below 500, so a launch does not drown in log lines, and at error level for 5xx. It logs neither query
// strings nor bodies: they hold personal data.
func AccessLog(log *zap.Logger) app.HandlerFunc {
	return func(ctx context.Context, c *app.RequestContext) {
		start := time.Now()
		id := string(c.GetHeader(RequestIDHeader))
		if id == "" || !requestIDPattern.MatchString(id) {
			// An id only has to tell requests apart in the logs, not be unguessable: the runtime's fast
			// generator, not crypto/rand's, which a sold-out storm would pay for on every refusal.
			var b [8]byte
			binary.LittleEndian.PutUint64(b[:], rand.Uint64())
			id = hex.EncodeToString(b[:])
		}
		c.Header(RequestIDHeader, id)
		c.Next(ctx)
		status := c.Response.StatusCode()
		level := zapcore.DebugLevel
		if status >= 500 {
			level = zapcore.ErrorLevel
		}
		if ce := log.Check(level, "request"); ce != nil {
			ce.Write(zap.String("request_id", id), zap.ByteString("method", c.Method()),
				zap.ByteString("path", c.Request.URI().Path()), zap.String("route", c.FullPath()),
				zap.Int("status", status), zap.Duration("latency", time.Since(start)))
		}
	}
}

// Recover turns a panic in a handler into a logged 500 problem instead of a dropped connection.
func Recover(log *zap.Logger) app.HandlerFunc {
	return func(ctx context.Context, c *app.RequestContext) {
		defer func() {
			if r := recover(); r != nil {
				log.Error("panic in handler", zap.String("route", c.FullPath()),
					zap.String("panic", fmt.Sprint(r)), zap.ByteString("stack", debug.Stack()))
				problem.Write(c, problem.New(http.StatusInternalServerError, "internal", "Internal error",
					"Something went wrong on our side; it has been logged."))
				c.Abort()
			}
		}()
		c.Next(ctx)
	}
}
