package edge

import (
	"bytes"
	"io"

	"go.uber.org/zap"
)

// FrameworkLog is where Hertz's own log lines should go (hlog.SetOutput). Hertz quotes a request it could not
// read in its error line, headers and body included, so a bearer token or a customer's email would reach the
// log. Each line is cut at its first quote, which drops every quoted value, and a client's unreadable request is
// logged at debug level: it is the client's error, answered 4xx, not the server's.
func FrameworkLog(log *zap.Logger) io.Writer { return frameworkLog{log: log.Named("hertz")} }

type frameworkLog struct{ log *zap.Logger }

func (f frameworkLog) Write(p []byte) (int, error) {
	line := bytes.TrimSpace(p)
	if i := bytes.IndexByte(line, '"'); i >= 0 {
		line = append(bytes.TrimRight(line[:i], " :=,"), " (request bytes withheld)"...)
	}
	if bytes.Contains(line, []byte("when reading request")) {
		f.log.Debug(string(line))
	} else {
		f.log.Warn(string(line))
	}
	return len(p), nil
}
