package redis

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// LogClientTo sends go-redis' own log lines (a Sentinel naming a new primary, a dial that failed, a pool
// closing a bad connection) to log instead of to stderr with Go's standard logger: there they bypassed the
// level, the JSON encoding and the masking of every other line. go-redis keeps one logger for the process, so
// the last call wins.
func LogClientTo(log *zap.Logger) {
	goredis.SetLogger(ClientLog(log))
}

// ClientLog is the go-redis logger (goredis.SetLogger) that LogClientTo installs.
func ClientLog(log *zap.Logger) interface {
	Printf(ctx context.Context, format string, v ...any)
} {
	return clientLog{log: log.Named("redis")}
}

type clientLog struct{ log *zap.Logger }

// Printf logs one go-redis line. Trouble (a failure, an error, a bad connection) is a warning; the rest, such
// as a Sentinel naming the primary after a failover, is information.
func (l clientLog) Printf(_ context.Context, format string, v ...any) {
	msg := maskCredentials(strings.TrimSpace(fmt.Sprintf(format, v...)))
	if isTrouble(msg) {
		l.log.Warn(msg)
		return
	}
	l.log.Info(msg)
}

// troubleWords mark a go-redis line that says something went wrong.
var troubleWords = []string{"fail", "error", "err:", "panic", "bad ", "invalid", "unable", "can't", "cannot",
	"discard", "timeout", "timed out", "refused", "truncat"}

func isTrouble(msg string) bool {
	lower := strings.ToLower(msg)
	for _, w := range troubleWords {
		if strings.Contains(lower, w) {
			return true
		}
	}
	return false
}

var (
	// urlUserinfo is the user:password@ of a URL (redis://:secret@host names no user).
	urlUserinfo = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://)([^@/\s"']*)@`)
	// passwordPair is a password=value or password: value pair.
	passwordPair = regexp.MustCompile(`(?i)\b(pass(?:word|wd)?)(\s*[=:]\s*)[^\s,;&"']+`)
)

// maskCredentials keeps a URL's user but replaces its password, and every password=value, with xxxxx, so that a
// line quoting the address it could not reach shows no secret.
func maskCredentials(msg string) string {
	msg = urlUserinfo.ReplaceAllStringFunc(msg, func(m string) string {
		parts := urlUserinfo.FindStringSubmatch(m)
		user, _, hasPassword := strings.Cut(parts[2], ":")
		if !hasPassword {
			return m
		}
		return parts[1] + user + ":xxxxx@"
	})
	return passwordPair.ReplaceAllString(msg, "${1}${2}xxxxx")
}
