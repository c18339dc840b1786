package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	rsredis "github.com/learecordshop/recordshop/dal/redis"
)

// TestDevLogHasNoColourOffATerminal: dev's console log is coloured for a terminal only; written to a file or a
// pipe it must be plain text, without a single escape byte.
func TestDevLogHasNoColourOffATerminal(t *testing.T) {
	file, err := os.Create(filepath.Join(t.TempDir(), "dev.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	var buf bytes.Buffer
	for name, w := range map[string]interface {
		Write([]byte) (int, error)
	}{"buffer": &buf, "file": file} {
		log, err := newLogger("info", true, w)
		if err != nil {
			t.Fatal(err)
		}
		log.Info("serving HTTP")
		log.Warn("stopping the local servers")
		_ = log.Sync()
		if name == "file" {
			b, err := os.ReadFile(file.Name())
			if err != nil {
				t.Fatal(err)
			}
			buf.Write(b)
		}
	}
	out := buf.String()
	if strings.Count(out, "INFO") != 2 || strings.Count(out, "WARN") != 2 {
		t.Fatalf("dev log lost its levels:\n%s", out)
	}
	if i := strings.IndexByte(out, 0x1b); i >= 0 {
		t.Fatalf("dev log off a terminal holds an escape code at byte %d: %q", i, out)
	}
}

// logLines returns the JSON lines written to b so far (a logBuffer: go-redis' goroutines may write to it while
// the test reads), each decoded.
func logLines(t *testing.T, b *logBuffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("a log line is not JSON: %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// find returns the first line whose message contains part.
func find(lines []map[string]any, part string) map[string]any {
	for _, l := range lines {
		if msg, _ := l["msg"].(string); strings.Contains(msg, part) {
			return l
		}
	}
	return nil
}

// TestGoRedisLogsThroughZap: what go-redis logs of its own arrives as one of the process's JSON lines, named
// "redis", at a level that says whether something went wrong, and with no password in it.
func TestGoRedisLogsThroughZap(t *testing.T) {
	var out logBuffer
	log, err := newLogger("info", false, &out)
	if err != nil {
		t.Fatal(err)
	}
	// A real go-redis line: it rounds an expiry below a millisecond up, and says so, before it dials. Nothing
	// listens on port 1, so the command itself fails at once.
	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second})
	defer rdb.Close()
	_ = rdb.Set(context.Background(), "k", "v", 500*time.Microsecond).Err()
	line := find(logLines(t, &out), "truncating to 1ms")
	if line == nil {
		t.Fatalf("go-redis' line did not reach the log:\n%s", out.buf.String())
	}
	if line["logger"] != "redis" || line["level"] != "warn" {
		t.Errorf("go-redis line = %v; want logger redis at warn", line)
	}

	// The lines a Sentinel failover writes, through the same logger.
	clientLog := rsredis.ClientLog(log)
	clientLog.Printf(context.Background(), "sentinel: new master=%q addr=%q", "shop", "10.0.0.7:6379")
	clientLog.Printf(context.Background(), "sentinel: GetMasterAddrByName addr=%s, master=%q failed: %s",
		"redis://app:hunter2@10.0.0.9:26379", "shop", "dial tcp: password=hunter2 refused")
	lines := logLines(t, &out)
	if l := find(lines, "new master"); l == nil || l["level"] != "info" || l["logger"] != "redis" {
		t.Errorf("a new master = %v; want it at info, named redis", l)
	}
	l := find(lines, "GetMasterAddrByName")
	if l == nil || l["level"] != "warn" {
		t.Fatalf("a failed Sentinel = %v; want it at warn", l)
	}
	if msg := l["msg"].(string); strings.Contains(msg, "hunter2") || !strings.Contains(msg, "redis://app:xxxxx@10.0.0.9:26379") {
		t.Errorf("the line shows a password, or lost the address: %q", msg)
	}
}
