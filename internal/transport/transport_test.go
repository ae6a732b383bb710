// SPDX-License-Identifier: GPL-2.0-or-later

package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"github.com/stap-client/stap-client/internal/testkit"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stap-client/stap-client/internal/certdb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// selfSigned makes a server certificate shaped like stap-serverd's.
func selfSigned(t *testing.T, notBefore, notAfter time.Time, dns ...string) tls.Certificate {
	t.Helper()
	return testkit.Cert(t, testkit.CertSpec{Serial: 0xcc197147, NotBefore: notBefore, NotAfter: notAfter, DNSNames: dns, Stap: true})
}

// startServer answers each connection with handle after the handshake.
func startServer(t *testing.T, cert tls.Certificate, handle func(c net.Conn, req []byte)) *testkit.FakeServer {
	t.Helper()
	return startServerAfter(t, cert, 0, handle)
}

// startServerAfter is startServer whose handshakes start delay after the
// connection is accepted, as a busy server's do.
func startServerAfter(t *testing.T, cert tls.Certificate, delay time.Duration, handle func(c net.Conn, req []byte)) *testkit.FakeServer {
	t.Helper()
	return testkit.StartFake(t, testkit.Fake{Cert: &cert, Delay: delay, Handle: handle})
}

type pinned struct{ der []byte }

func (p pinned) Name() string         { return "test-store" }
func (p pinned) Trusts(d []byte) bool { return string(d) == string(p.der) }

func (p pinned) TrustedCerts() []*x509.Certificate { return nil }

func cfg(stores ...certdb.Store) Config {
	return Config{Stores: stores, Timeouts: Timeouts{Stagger: 100 * time.Millisecond, Bound: 5 * time.Second, Write: 5 * time.Second, Idle: 5 * time.Second}, ConnectTries: 1, Backoff: 10 * time.Millisecond}
}

func TestExchange(t *testing.T) {
	now := time.Now()
	good := selfSigned(t, now.Add(-time.Hour), now.Add(time.Hour), "vm", "vm.local")
	expired := selfSigned(t, now.Add(-2*time.Hour), now.Add(-time.Hour))
	echo := func(c net.Conn, req []byte) { c.Write(append([]byte("reply:"), req...)) }

	t.Run("trusted server answers", func(t *testing.T) {
		s := startServer(t, good, echo)
		var out strings.Builder
		res, err := Exchange(context.Background(), cfg(pinned{[]byte("other")}, pinned{good.Certificate[0]}), Server{Addr: s.Addr}, []byte("zip"), &out)
		require.NoError(t, err)
		assert.Equal(t, "reply:zip", out.String())
		assert.Equal(t, int64(9), res.Bytes)
	})
	t.Run("untrusted server gets nothing", func(t *testing.T) {
		s := startServer(t, good, echo)
		var out strings.Builder
		_, err := Exchange(context.Background(), cfg(pinned{[]byte("other")}), Server{Addr: s.Addr}, []byte("zip"), &out)
		var te *Error
		require.ErrorAs(t, err, &te)
		assert.Equal(t, KindUntrusted, te.Kind)
		require.NotNil(t, te.Cert)
		time.Sleep(50 * time.Millisecond)
		n, _ := s.Got()
		assert.Zero(t, n, "no request byte may reach an untrusted server")
		assert.Empty(t, out.String())
	})
	t.Run("expired certificate", func(t *testing.T) {
		s := startServer(t, expired, echo)
		_, err := Exchange(context.Background(), cfg(pinned{expired.Certificate[0]}), Server{Addr: s.Addr}, []byte("zip"), io.Discard)
		var te *Error
		require.ErrorAs(t, err, &te)
		assert.Equal(t, KindExpired, te.Kind)
	})
	t.Run("closed without reply", func(t *testing.T) {
		s := startServer(t, good, func(c net.Conn, req []byte) {})
		_, err := Exchange(context.Background(), cfg(pinned{good.Certificate[0]}), Server{Addr: s.Addr}, []byte("zip"), io.Discard)
		var te *Error
		require.ErrorAs(t, err, &te)
		assert.Equal(t, KindNoReply, te.Kind)
	})
	t.Run("idle deadline", func(t *testing.T) {
		s := startServer(t, good, func(c net.Conn, req []byte) { time.Sleep(2 * time.Second) })
		c := cfg(pinned{good.Certificate[0]})
		c.Timeouts.Idle = 200 * time.Millisecond
		_, err := Exchange(context.Background(), c, Server{Addr: s.Addr}, []byte("zip"), io.Discard)
		var te *Error
		require.ErrorAs(t, err, &te)
		assert.Equal(t, KindTimeout, te.Kind)
	})
	t.Run("name mismatch warns and proceeds", func(t *testing.T) {
		s := startServer(t, good, echo)
		c := cfg(pinned{good.Certificate[0]})
		var warned string
		c.Warnf = func(f string, a ...any) { warned = fmt.Sprintf(f, a...) }
		_, port, _ := net.SplitHostPort(s.Addr)
		_, err := Exchange(context.Background(), c, Server{Host: "localhost", Addr: "127.0.0.1:" + port}, []byte("zip"), io.Discard)
		require.NoError(t, err)
		assert.Equal(t, "WARNING: The domain name, localhost, does not match the DNS name(s) on the server certificate:\n  vm\n  vm.local", warned)
	})
	t.Run("refused port", func(t *testing.T) {
		addr := testkit.ClosedPort(t)
		_, err := Exchange(context.Background(), cfg(), Server{Addr: addr}, []byte("zip"), io.Discard)
		var te *Error
		require.ErrorAs(t, err, &te)
		assert.Equal(t, KindConnect, te.Kind)
	})
	t.Run("cancelled context ends a long wait", func(t *testing.T) {
		s := startServer(t, good, func(c net.Conn, req []byte) { time.Sleep(3 * time.Second) })
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := Exchange(ctx, cfg(pinned{good.Certificate[0]}), Server{Addr: s.Addr}, []byte("zip"), io.Discard)
		require.Error(t, err)
		assert.Less(t, time.Since(start), 2*time.Second)
	})
}

// A server that resets the first connections is tried again, and the try
// succeeds; with no tries left the reset is reported.
func TestExchangeRetriesReset(t *testing.T) {
	now := time.Now()
	good := selfSigned(t, now.Add(-time.Hour), now.Add(time.Hour))
	var mu sync.Mutex
	resets := 2
	addr := testkit.Serve(t, func(c net.Conn) {
		mu.Lock()
		reset := resets > 0
		resets--
		mu.Unlock()
		if reset {
			c.(*net.TCPConn).SetLinger(0) // close with RST
			c.Close()
			return
		}
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{good}})
		defer tc.Close()
		var hdr [4]byte
		if _, err := io.ReadFull(tc, hdr[:]); err != nil {
			return
		}
		io.ReadFull(tc, make([]byte, binary.BigEndian.Uint32(hdr[:])))
		tc.Write([]byte("ok"))
	})
	c := cfg(pinned{good.Certificate[0]})
	c.ConnectTries = 3
	var out strings.Builder
	_, err := Exchange(context.Background(), c, Server{Addr: addr}, []byte("zip"), &out)
	require.NoError(t, err)
	assert.Equal(t, "ok", out.String())

	mu.Lock()
	resets = 1
	mu.Unlock()
	c.ConnectTries = 1
	_, err = Exchange(context.Background(), c, Server{Addr: addr}, []byte("zip"), io.Discard)
	var te *Error
	require.ErrorAs(t, err, &te)
	assert.Equal(t, KindReset, te.Kind)
}

func TestFetchCertificate(t *testing.T) {
	now := time.Now()
	good := selfSigned(t, now.Add(-time.Hour), now.Add(time.Hour))
	s := startServer(t, good, func(c net.Conn, req []byte) {})
	c, err := FetchCertificate(context.Background(), cfg(), Server{Addr: s.Addr})
	require.NoError(t, err)
	assert.Equal(t, good.Certificate[0], c.Raw)
	time.Sleep(50 * time.Millisecond)
	n, _ := s.Got()
	assert.Equal(t, 1, n, "one zero-length request")
	assert.Empty(t, s.Received()[0])
}

// Failures after the server started to reply carry what was received; a
// reply cut off is not retried (the server did answer).
func TestExchangeReplyFailures(t *testing.T) {
	now := time.Now()
	good := selfSigned(t, now.Add(-time.Hour), now.Add(time.Hour))
	t.Run("over MaxReply", func(t *testing.T) {
		s := startServer(t, good, func(c net.Conn, req []byte) { c.Write(make([]byte, 5000)) })
		c := cfg(pinned{good.Certificate[0]})
		c.MaxReply = 4096
		_, err := Exchange(context.Background(), c, Server{Addr: s.Addr}, []byte("zip"), io.Discard)
		var te *Error
		require.ErrorAs(t, err, &te)
		assert.Equal(t, KindTooLarge, te.Kind)
		assert.True(t, te.Connected)
		assert.Equal(t, int64(4096), te.Limit)
		assert.Equal(t, int64(4097), te.Bytes, "one byte past the limit is read to know")
	})
	t.Run("reset mid-reply", func(t *testing.T) {
		s := startServer(t, good, func(c net.Conn, req []byte) {
			c.Write(make([]byte, 3000))
			time.Sleep(200 * time.Millisecond)
			raw := c.(*tls.Conn).NetConn().(*net.TCPConn)
			raw.SetLinger(0)
			raw.Close()
		})
		c := cfg(pinned{good.Certificate[0]})
		c.Retries = 3
		_, err := Exchange(context.Background(), c, Server{Addr: s.Addr}, []byte("zip"), io.Discard)
		var te *Error
		require.ErrorAs(t, err, &te)
		assert.Equal(t, KindReset, te.Kind)
		assert.True(t, te.Connected)
		assert.Equal(t, int64(3000), te.Bytes)
		_, conns := s.Got()
		assert.Equal(t, 1, conns, "not retried")
	})
}
