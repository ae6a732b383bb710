// SPDX-License-Identifier: GPL-2.0-or-later

package testkit

import (
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Serve listens on a loopback port and hands each accepted connection to
// handle in a goroutine of its own; the listener closes when the test
// ends. It returns the address.
func Serve(t testing.TB, handle func(c net.Conn)) string {
	addr, _ := serve(t, handle)
	return addr
}

// serve is Serve that also returns how to stop listening early.
func serve(t testing.TB, handle func(c net.Conn)) (string, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go handle(c)
		}
	}()
	return ln.Addr().String(), func() { ln.Close() }
}

// ClosedPort is a loopback address where nothing listens.
func ClosedPort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Fake configures a fake compile server: it stands in for what the real
// server will not do (hostile, broken, slow or busy replies).
type Fake struct {
	Cert *tls.Certificate // Cert(t, CertSpec{}) when nil
	// Delay is waited before the handshake, as a busy server's handshake
	// waits for a free worker; the wait ends early when the test ends.
	Delay time.Duration
	// Handle answers one request (its body, after the 4-byte length).
	Handle func(c net.Conn, req []byte)
}

// FakeServer is a running fake compile server.
type FakeServer struct {
	Addr    string
	Cert    tls.Certificate
	CertDir string // holds the certificate as stap.cert: a --ssl directory
	// Requests receives each request body while fewer than 10 wait unread.
	Requests chan []byte

	stop     func()
	mu       sync.Mutex
	received [][]byte // one per connection that sent a request
	conns    int
}

// Stop takes the server down: its address refuses connections from now on.
func (s *FakeServer) Stop() { s.stop() }

// Reply is a Fake.Handle that writes data.
func Reply(data []byte) func(c net.Conn, req []byte) {
	return func(c net.Conn, _ []byte) { c.Write(data) }
}

// StartFake starts a fake compile server on a loopback port, stopped when
// the test ends.
func StartFake(t testing.TB, f Fake) *FakeServer {
	t.Helper()
	s := &FakeServer{CertDir: t.TempDir(), Requests: make(chan []byte, 10)}
	if f.Cert != nil {
		s.Cert = *f.Cert
	} else {
		s.Cert = Cert(t, CertSpec{})
	}
	require.NoError(t, os.WriteFile(filepath.Join(s.CertDir, "stap.cert"), s.Cert.Certificate[0], 0o644))
	cfg := &tls.Config{Certificates: []tls.Certificate{s.Cert}}
	ended := Ended(t)
	s.Addr, s.stop = serve(t, func(raw net.Conn) {
		defer raw.Close()
		if !Pause(ended, f.Delay) {
			return
		}
		c := tls.Server(raw, cfg)
		s.mu.Lock()
		s.conns++
		s.mu.Unlock()
		var hdr [4]byte
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return
		}
		req := make([]byte, binary.BigEndian.Uint32(hdr[:]))
		if _, err := io.ReadFull(c, req); err != nil {
			return
		}
		s.mu.Lock()
		s.received = append(s.received, req)
		s.mu.Unlock()
		select {
		case s.Requests <- req:
		default: // nobody looks at this one
		}
		f.Handle(c, req)
	})
	return s
}

// Ended is a channel closed when the test ends, for a fake server's
// handlers to stop waiting.
func Ended(t testing.TB) <-chan struct{} {
	t.Helper()
	ch := make(chan struct{})
	t.Cleanup(func() { close(ch) })
	return ch
}

// Pause waits d unless ended closes first; it tells whether d passed.
func Pause(ended <-chan struct{}, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	select {
	case <-ended:
		return false
	case <-time.After(d):
		return true
	}
}

// Got counts the requests received and the connections accepted.
func (s *FakeServer) Got() (requests, conns int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.received), s.conns
}

// Received is a copy of the request bodies received so far.
func (s *FakeServer) Received() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.received...)
}
