package edge_test

import (
	"fmt"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/learecordshop/recordshop/biz/edge"
)

// TestFrameworkLogLevels: what a client did (an unreadable request, a keep-alive connection left idle past the
// read timeout) is debug; anything else Hertz reports stays a warning; quoted request bytes never reach the log.
func TestFrameworkLogLevels(t *testing.T) {
	cases := []struct {
		line string
		want zapcore.Level
		msg  string
	}{
		{`2026/12/02 01:36:41.475913 engine.go:481: [Error] HERTZ: Error=read tcp 127.0.0.1:35647->127.0.0.1:53034: i/o timeout, remoteAddr=127.0.0.1:53034`,
			zapcore.DebugLevel, "2026/12/02 01:36:41.475913 engine.go:481: [Error] HERTZ: Error=read tcp 127.0.0.1:35647->127.0.0.1:53034: i/o timeout, remoteAddr=127.0.0.1:53034"},
		{`engine.go:481: [Error] HERTZ: Error=error when reading request headers: "POST / HTTP/1.1\r\nAuthorization: Bearer s3cret"`,
			zapcore.DebugLevel, "engine.go:481: [Error] HERTZ: Error=error when reading request headers (request bytes withheld)"},
		{`engine.go:481: [Error] HERTZ: Error=write tcp 127.0.0.1:8080->127.0.0.1:5000: broken pipe`,
			zapcore.WarnLevel, "engine.go:481: [Error] HERTZ: Error=write tcp 127.0.0.1:8080->127.0.0.1:5000: broken pipe"},
	}
	for i, c := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			core, logs := observer.New(zapcore.DebugLevel)
			if _, err := edge.FrameworkLog(zap.New(core)).Write([]byte(c.line + "\n")); err != nil {
				t.Fatal(err)
			}
			got := logs.All()
			if len(got) != 1 || got[0].Level != c.want || got[0].Message != c.msg {
				t.Fatalf("logged %+v; want one %s line %q", got, c.want, c.msg)
			}
		})
	}
}
