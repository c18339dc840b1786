package devstack

import (
	"context"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
)

// fleet is the redis-server processes of a Cluster or a Sentinel group: servers on 127.0.0.1 known by address,
// which a test kills and starts again with the same arguments until Stop ends them all and removes the temp dir
// they live in. Cluster and Sentinel each embed one, so that their Kill, Start and Stop lock, refuse and word
// their errors alike; which servers there are and how each is checked stay with them.
type fleet struct {
	name      string // what the servers make up, as errors and progress lines say it: "cluster", "sentinel group"
	notMember string // completes "<addr> is …" in the error for an address that is none of ours, naming ours
	logf      func(string, ...any)
	dir       string // the temp dir with every server's dir and log; stop removes it

	mu      sync.Mutex         // guards the servers against concurrent Stop, Kill, Start and the cluster's Restart
	servers map[string]*server // by address
	stopped bool
}

// lookup returns the server at addr, or the error op gives when the fleet is stopped or addr is none of ours.
// f.mu is held.
func (f *fleet) lookup(op, addr string) (*server, error) {
	if f.stopped {
		return nil, fmt.Errorf("%s: %s is stopped", op, f.name)
	}
	srv, ok := f.servers[addr]
	if !ok {
		return nil, fmt.Errorf("%s: %s is %s", op, addr, f.notMember)
	}
	return srv, nil
}

// kill kills the server at addr (SIGKILL, as a crash would) and leaves it down until startAgain; one that is down
// already stays down. op names the caller in errors.
func (f *fleet) kill(op, addr string) (*server, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	srv, err := f.lookup(op, addr)
	if err != nil {
		return nil, err
	}
	srv.stop(syscall.SIGKILL, 0)
	return srv, nil
}

// startAgain starts the server at addr again after kill, or after it died by itself, with the arguments it had,
// through start: the owner's way of starting servers, which also waits until they answer. A running server is
// refused, so that a test that loses track of what it killed hears of it. op names the caller in errors.
func (f *fleet) startAgain(ctx context.Context, op, addr string,
	start func(context.Context, []string) error) (*server, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	srv, err := f.lookup(op, addr)
	if err != nil {
		return nil, err
	}
	if running(srv) {
		return nil, fmt.Errorf("%s: %s is running", op, addr)
	}
	srv.stop(syscall.SIGKILL, 0) // reaps a server that died by itself, so that it can start again
	if err := start(ctx, []string{addr}); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return srv, nil
}

// launch starts the servers at addrs, all at once so that none of them is missing for long while the others come
// up, then waits until each answers ping (PING answers LOADING while an AOF is read back, so answering means
// loaded). f.mu is held.
func (f *fleet) launch(ctx context.Context, addrs []string, ping func(ctx context.Context, addr string) error) error {
	for _, addr := range addrs {
		if err := f.servers[addr].start(); err != nil {
			return err
		}
	}
	for _, addr := range addrs {
		err := f.servers[addr].waitReady(ctx, func(ctx context.Context) error { return ping(ctx, addr) })
		if err != nil {
			return err
		}
	}
	return nil
}

// live returns those of addrs whose server is running, in their order; an address that is not ours is not.
func (f *fleet) live(addrs []string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.liveLocked(addrs)
}

// liveLocked is live for a caller that holds f.mu.
func (f *fleet) liveLocked(addrs []string) []string {
	var up []string
	for _, addr := range addrs {
		if running(f.servers[addr]) {
			up = append(up, addr)
		}
	}
	return up
}

// stop stops every server for good, group after group in the order given and the servers of one group at once
// (their stopSignal, SIGKILL after stopGrace), then calls closeClients and removes the temp dir with all data and
// logs in it. A second call does nothing, and Kill and Start are refused from then on. op names the caller in
// errors.
func (f *fleet) stop(op string, groups [][]string, closeClients func()) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return nil
	}
	f.stopped = true
	for _, addrs := range groups {
		srvs := make([]*server, 0, len(addrs))
		for _, addr := range addrs {
			srvs = append(srvs, f.servers[addr])
		}
		stopAll(srvs, stopGrace)
	}
	closeClients()
	if err := os.RemoveAll(f.dir); err != nil {
		return fmt.Errorf("%s: remove %s: %w", op, f.dir, err)
	}
	f.logf("devstack: %s stopped, removed %s", f.name, f.dir)
	return nil
}

// running reports whether sv has been started and has not exited since; a nil sv has not.
func running(sv *server) bool {
	if sv == nil || sv.cmd == nil {
		return false
	}
	select {
	case <-sv.done:
		return false
	default:
		return true
	}
}

// stopAll stops the servers at once, each with its stopSignal and SIGKILL after grace.
func stopAll(srvs []*server, grace time.Duration) {
	var wg sync.WaitGroup
	for _, srv := range srvs {
		if srv == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			srv.stop(srv.stopSignal, grace)
		}()
	}
	wg.Wait()
}
