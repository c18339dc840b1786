// Package edge is the HTTP server below the routes: the transport, its limits and timeouts, and the
// problem+json answer to every request the framework refuses before a route sees it (bad framing, a body or
// headers over their bound, a client too slow to send its request). It owns the connection; it must not know
// any route, store or business rule.
package edge

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/cloudwego/hertz/pkg/app"
	"github.com/cloudwego/hertz/pkg/app/server"
	"github.com/cloudwego/hertz/pkg/common/config"
	"github.com/cloudwego/hertz/pkg/common/tracer/stats"
	"github.com/cloudwego/hertz/pkg/network"
	"github.com/cloudwego/hertz/pkg/network/standard"
	"github.com/cloudwego/hertz/pkg/protocol"
	"github.com/cloudwego/hertz/pkg/protocol/http1/resp"

	"github.com/learecordshop/recordshop/biz/problem"
)

// MaxBodyBytes bounds every request body; a larger one is answered 413 before it is read. No valid request of
// the API comes near it.
const MaxBodyBytes = 64 << 10

// Limits bound what one client can make the server hold. The zero value of a field takes its default.
type Limits struct {
	// ReadTimeout bounds the headers and body of one request together, from its first byte (or from the
	// connection's accept). A client that dribbles its headers a byte at a time is cut off here, so a few
	// thousand slow connections cannot pin the server. 10 s: a body of MaxBodyBytes takes
	// well under a second even on a slow mobile link.
	ReadTimeout time.Duration
	// WriteTimeout bounds each write of an answer: a client that stops reading cannot hold a connection (and
	// its buffers) forever. 10 s.
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that sends no new request. 60 s: longer than the storefront's
	// pause between a shopper's clicks, short enough that idle sockets do not pile up.
	IdleTimeout time.Duration
	// MaxConns bounds the connections served at once; further ones wait in the kernel's accept queue until one
	// closes. 4096: each costs a goroutine and about 10 KiB of buffers (about 40 MiB in all), far more than a
	// storefront fleet behind a load balancer keeps open.
	MaxConns int
	// MaxHeaderBytes bounds the request line and headers; more is answered 431. 16 KiB, as common proxies do.
	MaxHeaderBytes int
}

// Defaults are the limits a server gets where Limits leaves a field zero.
var Defaults = Limits{
	ReadTimeout:    10 * time.Second,
	WriteTimeout:   10 * time.Second,
	IdleTimeout:    60 * time.Second,
	MaxConns:       4096,
	MaxHeaderBytes: 16 << 10,
}

// WithDefaults fills every zero field from Defaults.
func (l Limits) WithDefaults() Limits {
	pick := func(v, d time.Duration) time.Duration {
		if v > 0 {
			return v
		}
		return d
	}
	l.ReadTimeout = pick(l.ReadTimeout, Defaults.ReadTimeout)
	l.WriteTimeout = pick(l.WriteTimeout, Defaults.WriteTimeout)
	l.IdleTimeout = pick(l.IdleTimeout, Defaults.IdleTimeout)
	if l.MaxConns <= 0 {
		l.MaxConns = Defaults.MaxConns
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = Defaults.MaxHeaderBytes
	}
	return l
}

// Options are the Hertz server options that put the limits in force.
//
// The transport is Go's standard net stack rather than netpoll: its read deadline is absolute (set once per
// request, as net/http's ReadTimeout), where netpoll's restarts with every byte that arrives, which let a client
// sending one byte a second keep a connection for ever.
func Options(l Limits) []config.Option {
	l = l.WithDefaults()
	return []config.Option{
		server.WithTransport(limited(l)),
		server.WithReadTimeout(l.ReadTimeout),
		server.WithIdleTimeout(l.IdleTimeout),
		server.WithKeepAliveTimeout(l.IdleTimeout),
		server.WithMaxRequestBodySize(MaxBodyBytes),
		server.WithMaxHeaderBytes(l.MaxHeaderBytes),
		// Multipart bodies are refused by the binder (415); parsing them first would only cost memory.
		server.WithDisablePreParseMultipartForm(true),
		// A path with a trailing slash is another path: 404 or 405, never a redirect a client must follow.
		server.WithRedirectTrailingSlash(false),
		server.WithRedirectFixedPath(false),
		server.WithHandleMethodNotAllowed(true),
		server.WithTracer(refusals{}),
		server.WithTraceLevel(stats.LevelDisabled),
	}
}

// limited is the standard transport over a listener that serves at most l.MaxConns connections at once and
// puts a write deadline on every write.
func limited(l Limits) func(*config.Options) network.Transporter {
	return func(o *config.Options) network.Transporter {
		if o.Listener == nil {
			lc := o.ListenConfig
			if lc == nil {
				lc = &net.ListenConfig{}
			}
			ln, err := lc.Listen(context.Background(), o.Network, o.Addr)
			if err != nil {
				// The transport reports a listen error from ListenAndServe; hand it an address it will fail
				// on the same way.
				return standard.NewTransporter(o)
			}
			o.Listener = ln
		}
		// o holds every option given, so a later WithReadTimeout wins here as it does in Hertz.
		o.Listener = &limitListener{Listener: o.Listener, slots: make(chan struct{}, l.MaxConns), read: o.ReadTimeout, write: l.WriteTimeout}
		return standard.NewTransporter(o)
	}
}

// limitListener accepts a connection only while fewer than cap(slots) are open, and gives its first request
// the read deadline: Hertz sets one only for the requests after the first (and on TLS handshakes).
type limitListener struct {
	net.Listener
	slots       chan struct{}
	read, write time.Duration
}

func (ln *limitListener) Accept() (net.Conn, error) {
	ln.slots <- struct{}{}
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			<-ln.slots
			return nil, err
		}
		if err := c.SetReadDeadline(time.Now().Add(ln.read)); err != nil {
			_ = c.Close() // gone already; the transport stops on an Accept error, so wait for the next one
			continue
		}
		return &limitConn{Conn: c, release: func() { <-ln.slots }, write: ln.write}, nil
	}
}

// limitConn frees its slot once, on Close, and bounds every write.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
	write   time.Duration
}

func (c *limitConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.write)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// refusals is a Hertz tracer, used for its one hook that runs before a request is read. Hertz answers a request
// it cannot read (framing, size, timeout) in plain text, from an error handler nobody can replace, written to
// the connection the request context holds. So Start hands the context a connection of ours (once per
// connection: the context keeps it across keep-alive requests), and that connection writes any answer given
// before the request was routed with an error status as problem+json instead. Routed marks each request that
// reached the routes, whose answers pass through untouched.
type refusals struct{}

func (refusals) Start(ctx context.Context, c *app.RequestContext) context.Context {
	rc, ok := c.GetConn().(*refusalConn)
	if !ok {
		rc = &refusalConn{Conn: c.GetConn(), c: c}
		c.SetConn(rc)
	}
	rc.routed = false
	return ctx
}

func (refusals) Finish(context.Context, *app.RequestContext) {}

// refusalConn is the connection as the request context sees it. While the request is not routed and its
// response carries an error status, the framework is writing its plain-text refusal: those bytes are dropped,
// and Flush writes the problem+json answer for the status instead.
type refusalConn struct {
	network.Conn
	c       *app.RequestContext
	routed  bool
	scratch []byte
}

func (rc *refusalConn) refusing() bool {
	return !rc.routed && rc.c.Response.StatusCode() >= 400
}

func (rc *refusalConn) Malloc(n int) ([]byte, error) {
	if !rc.refusing() {
		return rc.Conn.Malloc(n)
	}
	if cap(rc.scratch) < n {
		rc.scratch = make([]byte, n)
	}
	return rc.scratch[:n], nil
}

func (rc *refusalConn) WriteBinary(b []byte) (int, error) {
	if !rc.refusing() {
		return rc.Conn.WriteBinary(b)
	}
	return len(b), nil
}

func (rc *refusalConn) Flush() error {
	if !rc.refusing() {
		return rc.Conn.Flush()
	}
	status := rc.c.Response.StatusCode()
	var out protocol.Response
	out.SetStatusCode(status)
	out.Header.SetContentType(problem.ContentType)
	out.SetConnectionClose()
	out.SetBody(problem.Encode(problem.ForStatus(status, "")))
	if err := resp.Write(&out, rc.Conn); err != nil {
		return fmt.Errorf("edge: write refusal: %w", err)
	}
	return rc.Conn.Flush()
}

// Routed is the first middleware of every route, 404 and 405: the request was read whole, so its answer is
// written normally. After the handlers ran, an error answer that is not problem+json (the framework's own 400
// for a request without Host, say) is rewritten as one, so every refusal has the same shape.
func Routed() app.HandlerFunc {
	return func(ctx context.Context, c *app.RequestContext) {
		if rc, ok := c.GetConn().(*refusalConn); ok {
			rc.routed = true
		}
		c.Next(ctx)
		status := c.Response.StatusCode()
		if status >= 400 && string(c.Response.Header.ContentType()) != problem.ContentType {
			problem.Write(c, problem.ForStatus(status, ""))
		}
	}
}
