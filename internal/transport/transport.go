// SPDX-License-Identifier: GPL-2.0-or-later

// Package transport talks to a compile server: TLS with the server's
// certificate pinned against the user's trust stores, the length-prefixed
// request, and the response read to EOF (docs/wire-protocol.md, sections
// 1 and 2).
package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/stap-client/stap-client/internal/certdb"
)

// Timeouts bound the exchange. No step has a short deadline of its own: a
// dead server costs nothing because the next one is raced against it
// (race.go), and a slow or busy server is worth waiting for when it is the
// last hope. Idle bounds the silence between response bytes, not the whole
// exchange: a server may compile for minutes before replying.
type Timeouts struct {
	// Stagger is how long an attempt may go without a trusted handshake
	// before the next candidate is started beside it (RFC 8305's
	// "connection attempt delay"). It is also the window in which a
	// better-ranked server that answers still wins over a worse one.
	Stagger time.Duration
	// Bound caps the whole connection phase (every try, every server):
	// far beyond what a live server needs, so only a hung one meets it.
	Bound time.Duration
	Write time.Duration
	Idle  time.Duration
}

// DefaultTimeouts: a 250 ms stagger (what browsers use), ten minutes for a
// server to take the connection, and a long idle bound because a cold compile
// sends nothing until it is done.
var DefaultTimeouts = Timeouts{Stagger: 250 * time.Millisecond, Bound: 10 * time.Minute, Write: 5 * time.Minute, Idle: 15 * time.Minute}

// MaxResponse bounds the bytes read from a server when Config.MaxReply is
// 0 (real replies are 1 KB to tens of MB).
const MaxResponse = 1 << 30

// Server is one place to connect to.
type Server struct {
	Host string // host name for SNI and the name check; "" when unknown
	Addr string // "ip:port" or "[ip]:port"
	// Label names the server in verbose lines (stap's printout); Addr if "".
	Label string
}

// Config is what an exchange needs besides the server.
type Config struct {
	Stores   []certdb.Store
	Timeouts Timeouts
	// Retries is how many more times a request whose connection was reset
	// before any reply byte is sent again (stap does the same).
	Retries int
	// ConnectTries is how often a server that refuses the connection, or
	// cannot be reached yet, is tried (stap: 5), Backoff apart.
	ConnectTries int
	Backoff      time.Duration
	Now          func() time.Time
	// Logf prints verbose lines: level is stap's -v count needed to see it.
	Logf func(level int, format string, args ...any)
	// Warnf prints warnings that stap always prints.
	Warnf func(format string, args ...any)
	// MaxReply bounds the reply's bytes; 0 means MaxResponse.
	MaxReply int64
	// Observe hears where each attempt stands, for progress lines and
	// failover messages. All calls come from the goroutine that called
	// Race or Deliver, one at a time.
	Observe func(Event)

	// trustAll skips the trust and date checks: FetchCertificate only.
	trustAll bool
}

// Phase is where an exchange with one server stands.
type Phase int

// The phases, in the order an exchange passes them.
const (
	PhaseConnecting Phase = iota + 1 // TCP connect under way
	PhaseWaiting                     // connected; the TLS handshake waits (for a free worker on a busy server)
	PhaseCompiling                   // request sent; no reply byte yet
	PhaseReceiving                   // reply bytes arriving
)

// Doing says what the client is doing in a phase, before the server's name.
func (p Phase) Doing() string {
	switch p {
	case PhaseConnecting:
		return "connecting to"
	case PhaseWaiting:
		return "waiting for a free worker on"
	case PhaseCompiling:
		return "compiling on"
	case PhaseReceiving:
		return "receiving the result from"
	}
	return "talking to"
}

// Event reports one attempt's progress.
type Event struct {
	Index  int // the server's rank in the race (0 for Deliver)
	Server Server
	Phase  Phase
	Bytes  int64 // reply bytes so far, in PhaseReceiving
	// Err, when set, ends this try; Retry > 0 means another try follows
	// after that pause, else the server is given up.
	Err   error
	Retry time.Duration
}

func (cfg Config) observe(ev Event) {
	if cfg.Observe != nil {
		cfg.Observe(ev)
	}
}

// Kind classifies a failure the way stap's messages and retries need.
type Kind int

// Failure kinds.
const (
	KindConnect     Kind = iota + 1 // TCP connect failed (refused, unreachable, timed out)
	KindReset                       // the connection was reset
	KindHandshake                   // TLS failed for another reason
	KindUntrusted                   // no store trusts the certificate
	KindExpired                     // trusted but outside its validity dates
	KindTimeout                     // a deadline passed
	KindNoReply                     // the server closed without sending anything
	KindIO                          // sending or receiving failed otherwise
	KindInterrupted                 // the caller's context ended (an interrupt)
	KindTooLarge                    // the reply is larger than Config.MaxReply
)

// Error is a failed exchange with one server.
type Error struct {
	Kind   Kind
	Server Server
	Op     string
	Err    error
	// Cert is the server's certificate when the handshake got that far.
	Cert *x509.Certificate
	// Connected: the handshake succeeded; the failure came while sending
	// the request or reading the reply.
	Connected bool
	// Bytes of the reply received before the failure.
	Bytes int64
	// Limit is Config.MaxReply in effect, for KindTooLarge.
	Limit int64
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s %s: %v", e.Op, e.Server.Addr, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Result tells which store trusted the server.
type Result struct {
	Store certdb.Store
	Cert  *x509.Certificate
	Bytes int64 // response bytes written
}

var (
	errUntrusted = certdb.ErrUntrusted
	errExpired   = certdb.ErrExpired
)

// Exchange sends req to srv and copies the response to w: Race with one
// server, then Deliver.
func Exchange(ctx context.Context, cfg Config, srv Server, req []byte, w io.Writer) (*Result, error) {
	c, _, errs := Race(ctx, cfg, []Server{srv})
	if c == nil {
		return nil, errs[0]
	}
	return Deliver(ctx, cfg, c, req, w)
}

// Deliver sends req over c and copies the response to w. A connection reset
// before any reply byte is tried again on a new connection to the same
// server, as stap does; nothing else is ever sent twice, since the server
// may already be compiling it.
func Deliver(ctx context.Context, cfg Config, c *Conn, req []byte, w io.Writer) (*Result, error) {
	for attempt := 0; ; attempt++ {
		res, err := c.send(ctx, cfg, req, w)
		var te *Error
		if err == nil || !errors.As(err, &te) || te.Kind != KindReset || attempt >= cfg.Retries || te.Bytes > 0 {
			return res, err
		}
		cfg.logf(2, "  Unable to connect: %v; trying again in %v", te.Err, cfg.Backoff)
		if !sleep(ctx, cfg.Backoff) {
			return nil, ctx.Err()
		}
		nc, _, errs := Race(ctx, cfg, []Server{c.srv})
		if nc == nil {
			return nil, errs[0]
		}
		c = nc
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (cfg Config) logf(level int, format string, args ...any) {
	if cfg.Logf != nil {
		cfg.Logf(level, format, args...)
	}
}

func (cfg Config) now() time.Time {
	if cfg.Now != nil {
		return cfg.Now()
	}
	return time.Now()
}

// Conn is a trusted TLS session with one server, ready for one request.
type Conn struct {
	srv   Server
	raw   net.Conn
	tls   *tls.Conn
	store certdb.Store
	cert  *x509.Certificate
}

// Server is the server c is connected to.
func (c *Conn) Server() Server { return c.srv }

// Close drops the connection without sending anything.
func (c *Conn) Close() error { return c.raw.Close() }

// dial connects to srv and completes a handshake whose certificate one of
// cfg.Stores trusts. No deadline: the caller's ctx ends it. phase hears when
// the TCP connection is up.
func dial(ctx context.Context, cfg Config, srv Server, phase func(Phase)) (*Conn, error) {
	d := net.Dialer{KeepAlive: 15 * time.Second}
	raw, err := d.DialContext(ctx, "tcp", srv.Addr)
	if err != nil {
		return nil, &Error{Kind: classify(err, KindConnect), Server: srv, Op: "connecting to", Err: err}
	}
	phase(PhaseWaiting)
	// Closing the connection is what ends a handshake when ctx ends.
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	c := &Conn{srv: srv, raw: raw}
	tcfg := &tls.Config{
		// Chain verification cannot be used: the server certificate is
		// self-signed with a critical Netscape extension Go rejects. The
		// pin below is the whole check (docs/wire-protocol.md, section 1).
		InsecureSkipVerify: true,
		MinVersion:         tls.VersionTLS12,
		ServerName:         sniName(srv.Host),
		VerifyPeerCertificate: func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
			if len(rawCerts) == 0 {
				return errors.New("the server sent no certificate")
			}
			cert, err := x509.ParseCertificate(rawCerts[0])
			if err != nil {
				return fmt.Errorf("parsing the server certificate: %w", err)
			}
			c.cert = cert
			if cfg.trustAll {
				return nil
			}
			// The same check a cached result's builder must pass (certdb.Accept).
			c.store, err = certdb.Accept(cfg.Stores, cert, cfg.now(), func(s certdb.Store) {
				cfg.logf(2, "Attempting SSL connection with %s\n  using certificates from the database in %s", srv.label(), s.Name())
			})
			return err
		},
	}
	c.tls = tls.Client(raw, tcfg)
	err = c.tls.HandshakeContext(ctx)
	if !stop() && err == nil {
		err = ctx.Err() // the connection was closed under the handshake's feet
	}
	if err != nil {
		raw.Close()
		e := &Error{Kind: classify(err, KindHandshake), Server: srv, Op: "TLS handshake with", Err: err, Cert: c.cert}
		switch {
		case errors.Is(err, errUntrusted):
			e.Kind, e.Err = KindUntrusted, errUntrusted
		case errors.Is(err, errExpired):
			e.Kind, e.Err = KindExpired, errExpired
		case ctx.Err() != nil:
			e.Kind, e.Err = KindInterrupted, ctx.Err()
		}
		return nil, e
	}
	if srv.Host != "" && net.ParseIP(srv.Host) == nil && c.cert.VerifyHostname(srv.Host) != nil && cfg.Warnf != nil {
		// stap accepts a name mismatch, with this warning.
		msg := fmt.Sprintf("WARNING: The domain name, %s, does not match the DNS name(s) on the server certificate:", srv.Host)
		for _, n := range c.cert.DNSNames {
			msg += "\n  " + n
		}
		cfg.Warnf("%s", msg)
	}
	return c, nil
}

// send writes the length-prefixed request and copies the reply to w, then
// closes the connection.
func (c *Conn) send(ctx context.Context, cfg Config, req []byte, w io.Writer) (*Result, error) {
	defer c.raw.Close()
	stop := context.AfterFunc(ctx, func() { c.raw.Close() })
	defer stop()
	fail := func(k Kind, op string, err error, n int64) (*Result, error) {
		k = classify(err, k)
		if ctx.Err() != nil {
			k, err = KindInterrupted, ctx.Err()
		}
		return &Result{Store: c.store, Cert: c.cert, Bytes: n}, &Error{Kind: k, Server: c.srv, Op: op, Err: err, Cert: c.cert, Connected: true, Bytes: n}
	}
	_ = c.raw.SetDeadline(time.Now().Add(cfg.Timeouts.Write))
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(req)))
	if _, err := c.tls.Write(append(hdr[:], req...)); err != nil {
		return fail(KindIO, "sending the request to", err, 0)
	}
	cfg.observe(Event{Server: c.srv, Phase: PhaseCompiling})
	r := &idleReader{conn: c.tls, raw: c.raw, idle: cfg.Timeouts.Idle}
	cw := &countingWriter{w: w, report: func(n int64) {
		cfg.observe(Event{Server: c.srv, Phase: PhaseReceiving, Bytes: n})
	}}
	limit := cfg.MaxReply
	if limit <= 0 {
		limit = MaxResponse
	}
	n, err := io.Copy(cw, io.LimitReader(r, limit+1))
	if err != nil {
		return fail(KindIO, "receiving the response from", err, n)
	}
	if n > limit {
		res, err := fail(KindTooLarge, "receiving the response from", fmt.Errorf("the reply is larger than %d bytes", limit), n)
		err.(*Error).Limit = limit
		return res, err
	}
	if n == 0 {
		return fail(KindNoReply, "receiving the response from", errors.New("the server closed the connection without a reply"), 0)
	}
	return &Result{Store: c.store, Cert: c.cert, Bytes: n}, nil
}

// countingWriter reports the running total after each write.
type countingWriter struct {
	w      io.Writer
	n      int64
	report func(int64)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.report(c.n)
	return n, err
}

func (s Server) label() string {
	if s.Label != "" {
		return s.Label
	}
	return s.Addr
}

// sniName sends a host name as SNI, never an address (the server ignores it).
func sniName(host string) string {
	if host == "" || net.ParseIP(strings.Trim(host, "[]")) != nil {
		return ""
	}
	return host
}

// idleReader renews the read deadline before every read.
type idleReader struct {
	conn *tls.Conn
	raw  net.Conn
	idle time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	_ = r.raw.SetReadDeadline(time.Now().Add(r.idle))
	n, err := r.conn.Read(p)
	if errors.Is(err, io.EOF) {
		return n, io.EOF
	}
	return n, err
}

func classify(err error, def Kind) Kind {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNRESET):
		return KindReset
	case errors.As(err, &ne) && ne.Timeout():
		if def == KindConnect {
			return KindConnect
		}
		return KindTimeout
	}
	return def
}

// FetchCertificate makes a trust-only connection, as stap's --trust-servers
// does: the handshake with no verification, to learn the server's
// certificate, then a zero length (which the server takes as "trust only")
// and close without reading. It is as patient as Race with one server.
func FetchCertificate(ctx context.Context, cfg Config, srv Server) (*x509.Certificate, error) {
	cfg.trustAll = true // the point is to see the certificate before trusting it
	cfg.Logf = nil
	c, _, errs := Race(ctx, cfg, []Server{srv})
	if c == nil {
		return nil, errs[0]
	}
	defer c.Close()
	// Best effort: the certificate is what we came for.
	_ = c.raw.SetDeadline(time.Now().Add(cfg.Timeouts.Write))
	_, _ = c.tls.Write([]byte{0, 0, 0, 0})
	_ = c.tls.Close()
	return c.cert, nil
}
