package pg_test

import (
	"context"
	"net"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/learecordshop/recordshop/dal/pg"
	"github.com/learecordshop/recordshop/dal/testenv"
)

// TestPoolDialerNoticesDeadPaths checks the socket options of the pool's connections, which the blackhole test
// of the writer cannot reach (its proxy's kernel acknowledges everything): an idle connection is probed after
// 5 s, every 2 s, and a connection whose bytes stay unacknowledged for 10 s is dropped. Without them a path
// that silently drops packets holds a connection for about 15 minutes.
func TestPoolDialerNoticesDeadPaths(t *testing.T) {
	ln := testenv.Listen(t)
	go func() {
		if c, err := ln.Accept(); err == nil {
			defer c.Close()
			_, _ = c.Read(make([]byte, 1)) // hold it open until the client hangs up
		}
	}()
	cfg, err := pg.PoolConfig("postgres://user@" + ln.Addr().String() + "/db?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := cfg.ConnConfig.DialFunc(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	raw, err := conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		level, opt, value int
	}{
		"SO_KEEPALIVE":          {unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
		"TCP_KEEPIDLE (s)":      {unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 5},
		"TCP_KEEPINTVL (s)":     {unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 2},
		"TCP_KEEPCNT":           {unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 3},
		"TCP_USER_TIMEOUT (ms)": {unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, 10_000},
	}
	for name, w := range want {
		var got int
		var gerr error
		if err := raw.Control(func(fd uintptr) { got, gerr = unix.GetsockoptInt(int(fd), w.level, w.opt) }); err != nil {
			t.Fatal(err)
		}
		if gerr != nil || got != w.value {
			t.Errorf("%s = %d (%v); want %d", name, got, gerr, w.value)
		}
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		t.Errorf("no connect timeout: a connection dialled into a dead path would wait for the kernel to give up")
	}
}
