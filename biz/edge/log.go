package edge

import (
	"bytes"
	"io"

	"go.uber.org/zap"
)

// FrameworkLog is where Hertz's own log lines should go (hlog.SetOutput). Hertz quotes a request it could not
// read in its error line, headers and body included, so a bearer token or a customer's email would reach the
// log. Each line is cut at its first quote, which drops every quoted value, and a client's unreadable request, or a
// keep-alive connection the client left idle past the read timeout (hundreds a minute after a load test), is
// logged at debug level: it is the client's doing, not the server's.
func FrameworkLog(log *zap.Logger) io.Writer { return frameworkLog{log: log.Named("hertz")} }

type frameworkLog struct{ log *zap.Logger }

func (f frameworkLog) Write(p []byte) (int, error) {
	line := bytes.TrimSpace(p)
	if i := bytes.IndexByte(line, '"'); i >= 0 {
		line = append(bytes.TrimRight(line[:i], " :=,"), " (request bytes withheld)"...)
	}
	if clientSide(line) {
		f.log.Debug(string(line))
	} else {
		f.log.Warn(string(line))
	}
	return len(p), nil
}

// clientSide reports a framework line about what a client did: a request it could not read, or a connection
// closed because the client sent nothing within the read timeout.
func clientSide(line []byte) bool {
	return bytes.Contains(line, []byte("when reading request")) ||
		(bytes.Contains(line, []byte("Error=read tcp")) && bytes.Contains(line, []byte("i/o timeout")))
}
