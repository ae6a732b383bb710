// Package transport talks to a compile server: TLS with the server's
// certificate pinned against the user's trust stores, the length-prefixed
// request, and the response read to EOF.
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

// Timeouts bound each step. Idle bounds the silence between response bytes,
// not the whole exchange: a server may compile for minutes before replying.
type Timeouts struct {
	Connect   time.Duration
	Handshake time.Duration
	Write     time.Duration
	Idle      time.Duration
}

// DefaultTimeouts suit a LAN server: a dead or blackholed server costs the
// 2 s connect deadline, not the OS's minutes; Idle is long because a cold
// compile sends nothing until it is done.
var DefaultTimeouts = Timeouts{Connect: 2 * time.Second, Handshake: 20 * time.Second, Write: 30 * time.Second, Idle: 15 * time.Minute}

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
	// Retries is how many more times a reset connection is tried.
	Retries int
	// Backoff is the first pause before a retry; it doubles each time.
	Backoff time.Duration
	Now     func() time.Time
	// Logf prints verbose lines: level is stap's -v count needed to see it.
	Logf func(level int, format string, args ...any)
	// Warnf prints warnings that stap always prints.
	Warnf func(format string, args ...any)
	// MaxReply bounds the reply's bytes; 0 means MaxResponse.
	MaxReply int64
}

// Kind classifies a failure the way stap's messages and retries need.
type Kind int

// Failure kinds.
const (
	KindConnect   Kind = iota + 1 // TCP connect failed (refused, unreachable, timed out)
	KindReset                     // the connection was reset
	KindHandshake                 // TLS failed for another reason
	KindUntrusted                 // no store trusts the certificate
	KindExpired                   // trusted but outside its validity dates
	KindTimeout                   // a deadline passed after connecting
	KindNoReply                   // the server closed without sending anything
	KindIO                        // sending or receiving failed otherwise
	KindTooLarge                  // the reply is larger than Config.MaxReply
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
	errUntrusted = errors.New("the server's certificate is not trusted")
	errExpired   = errors.New("the server's certificate has expired or is not yet valid")
)

// Exchange sends req to srv and copies the response to w. A reset before
// anything came back is retried with backoff; nothing is sent to a server
// whose certificate no store trusts.
func Exchange(ctx context.Context, cfg Config, srv Server, req []byte, w io.Writer) (*Result, error) {
	backoff := cfg.Backoff
	for attempt := 0; ; attempt++ {
		res, err := exchangeOnce(ctx, cfg, srv, req, w)
		var te *Error
		if err == nil || !errors.As(err, &te) || te.Kind != KindReset || attempt >= cfg.Retries || (res != nil && res.Bytes > 0) {
			return res, err
		}
		cfg.logf(2, "  Unable to connect: %v; trying again in %v", te.Err, backoff)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff *= 2
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

func exchangeOnce(ctx context.Context, cfg Config, srv Server, req []byte, w io.Writer) (*Result, error) {
	fail := func(k Kind, op string, err error) (*Result, error) {
		return nil, &Error{Kind: k, Server: srv, Op: op, Err: err}
	}
	d := net.Dialer{Timeout: cfg.Timeouts.Connect, KeepAlive: 15 * time.Second}
	raw, err := d.DialContext(ctx, "tcp", srv.Addr)
	if err != nil {
		return fail(classify(err, KindConnect), "connecting to", err)
	}
	// Closing the connection is what unblocks a read when ctx ends.
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()
	defer raw.Close()

	var trusted certdb.Store
	var leaf *x509.Certificate
	tcfg := &tls.Config{
		// Chain verification cannot be used: the server certificate is
		// self-signed with a critical Netscape extension Go rejects. The
		// pin below is the whole check (PROTOCOL.md 5.7).
		InsecureSkipVerify: true,
		MinVersion:         tls.VersionTLS12,
		ServerName:         sniName(srv.Host),
		VerifyPeerCertificate: func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
			if len(rawCerts) == 0 {
				return errors.New("the server sent no certificate")
			}
			c, err := x509.ParseCertificate(rawCerts[0])
			if err != nil {
				return fmt.Errorf("parsing the server certificate: %w", err)
			}
			leaf = c
			for _, s := range cfg.Stores {
				cfg.logf(2, "Attempting SSL connection with %s\n  using certificates from the database in %s", srv.label(), s.Name())
				if s.Trusts(rawCerts[0]) {
					trusted = s
					break
				}
			}
			if trusted == nil {
				return errUntrusted
			}
			if now := cfg.now(); now.Before(c.NotBefore) || now.After(c.NotAfter) {
				return errExpired
			}
			return nil
		},
	}
	conn := tls.Client(raw, tcfg)
	_ = raw.SetDeadline(time.Now().Add(cfg.Timeouts.Handshake))
	if err := conn.HandshakeContext(ctx); err != nil {
		e := &Error{Kind: classify(err, KindHandshake), Server: srv, Op: "TLS handshake with", Err: err, Cert: leaf}
		switch {
		case errors.Is(err, errUntrusted):
			e.Kind, e.Err = KindUntrusted, errUntrusted
		case errors.Is(err, errExpired):
			e.Kind, e.Err = KindExpired, errExpired
		}
		return nil, e
	}
	if srv.Host != "" && net.ParseIP(srv.Host) == nil && leaf.VerifyHostname(srv.Host) != nil && cfg.Warnf != nil {
		// stap accepts a name mismatch, with this warning.
		msg := fmt.Sprintf("WARNING: The domain name, %s, does not match the DNS name(s) on the server certificate:", srv.Host)
		for _, n := range leaf.DNSNames {
			msg += "\n  " + n
		}
		cfg.Warnf("%s", msg)
	}

	_ = raw.SetDeadline(time.Now().Add(cfg.Timeouts.Write))
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(req)))
	if _, err := conn.Write(append(hdr[:], req...)); err != nil {
		return nil, &Error{Kind: classify(err, KindIO), Server: srv, Op: "sending the request to", Err: err, Connected: true}
	}
	res := &Result{Store: trusted, Cert: leaf}
	r := &idleReader{conn: conn, raw: raw, idle: cfg.Timeouts.Idle}
	limit := cfg.MaxReply
	if limit <= 0 {
		limit = MaxResponse
	}
	n, err := io.Copy(w, io.LimitReader(r, limit+1))
	res.Bytes = n
	if err != nil {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		return res, &Error{Kind: classify(err, KindIO), Server: srv, Op: "receiving the response from", Err: err, Connected: true, Bytes: n}
	}
	if n > limit {
		return res, &Error{Kind: KindTooLarge, Server: srv, Op: "receiving the response from", Err: fmt.Errorf("the reply is larger than %d bytes", limit), Connected: true, Bytes: n, Limit: limit}
	}
	if n == 0 {
		return res, &Error{Kind: KindNoReply, Server: srv, Op: "receiving the response from", Err: errors.New("the server closed the connection without a reply"), Connected: true}
	}
	return res, nil
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
// and close without reading.
func FetchCertificate(ctx context.Context, cfg Config, srv Server) (*x509.Certificate, error) {
	d := net.Dialer{Timeout: cfg.Timeouts.Connect}
	raw, err := d.DialContext(ctx, "tcp", srv.Addr)
	if err != nil {
		return nil, &Error{Kind: classify(err, KindConnect), Server: srv, Op: "connecting to", Err: err}
	}
	defer raw.Close()
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()
	var leaf *x509.Certificate
	conn := tls.Client(raw, &tls.Config{
		InsecureSkipVerify: true, // the point is to see the certificate before trusting it
		MinVersion:         tls.VersionTLS12,
		ServerName:         sniName(srv.Host),
		VerifyPeerCertificate: func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
			if len(rawCerts) == 0 {
				return errors.New("the server sent no certificate")
			}
			c, err := x509.ParseCertificate(rawCerts[0])
			if err != nil {
				return fmt.Errorf("parsing the server certificate: %w", err)
			}
			leaf = c
			return nil
		},
	})
	_ = raw.SetDeadline(time.Now().Add(cfg.Timeouts.Handshake))
	if err := conn.HandshakeContext(ctx); err != nil {
		return nil, &Error{Kind: classify(err, KindHandshake), Server: srv, Op: "TLS handshake with", Err: err}
	}
	// Best effort: the certificate is what we came for.
	_, _ = conn.Write([]byte{0, 0, 0, 0})
	_ = conn.Close()
	return leaf, nil
}
