// SPDX-License-Identifier: GPL-2.0-or-later

package transport

import (
	"context"
	"crypto/tls"
	"github.com/stap-client/stap-client/internal/testkit"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hungServer accepts connections and never says a word: a server whose
// workers are all busy, as far as the handshake can tell.
func hungServer(t *testing.T) string {
	t.Helper()
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return testkit.Serve(t, func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	})
}

// slowServer completes the handshake after delay, then says "ok".
func slowServer(t *testing.T, cert tls.Certificate, delay time.Duration) *testkit.FakeServer {
	t.Helper()
	return startServerAfter(t, cert, delay, func(c net.Conn, req []byte) { c.Write([]byte("ok")) })
}

func closedPort(t *testing.T) string { return testkit.ClosedPort(t) }

func TestRace(t *testing.T) {
	now := time.Now()
	good := selfSigned(t, now.Add(-time.Hour), now.Add(time.Hour))
	trust := pinned{good.Certificate[0]}
	echo := func(c net.Conn, req []byte) { c.Write([]byte("ok")) }

	type want struct {
		winner int
		// the winner is known within this long (a bound, far from the
		// figure, so a loaded machine does not fail it)
		within time.Duration
		// and not before this long (the stagger or the window was waited)
		notBefore time.Duration
		// stagger, when set, replaces the test config's 100 ms: far longer
		// than the bound shows the next server did not wait for it
		stagger time.Duration
		// tries, when set, is ConnectTries (1 s apart)
		tries int
	}
	tests := []struct {
		name    string
		servers func(t *testing.T) []string
		want    want
	}{
		{"a hung first server is raced after the stagger", func(t *testing.T) []string {
			return []string{hungServer(t), startServer(t, good, echo).Addr}
		}, want{winner: 1, within: 2 * time.Second, notBefore: 100 * time.Millisecond}},
		{"a refused first server frees the next at once", func(t *testing.T) []string {
			return []string{closedPort(t), startServer(t, good, echo).Addr}
		}, want{winner: 1, within: time.Second, stagger: 3 * time.Second}},
		{"a refused first server being tried again does not hold the winner", func(t *testing.T) []string {
			return []string{closedPort(t), startServer(t, good, echo).Addr}
		}, want{winner: 1, within: time.Second, stagger: 3 * time.Second, tries: 5}},
		{"a better server answering within the window still wins", func(t *testing.T) []string {
			return []string{slowServer(t, good, 150*time.Millisecond).Addr, startServer(t, good, echo).Addr}
		}, want{winner: 0, within: 2 * time.Second, notBefore: 150 * time.Millisecond}},
		{"a better server answering after the window loses", func(t *testing.T) []string {
			// Far slower than the bound, so a loaded machine cannot blur
			// "did not wait for it" into "waited".
			return []string{slowServer(t, good, 6*time.Second).Addr, startServer(t, good, echo).Addr}
		}, want{winner: 1, within: 3 * time.Second, notBefore: 100 * time.Millisecond}},
		{"two quick servers: preference order decides", func(t *testing.T) []string {
			return []string{startServer(t, good, echo).Addr, startServer(t, good, echo).Addr}
		}, want{winner: 0, within: 2 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var servers []Server
			for _, a := range tt.servers(t) {
				servers = append(servers, Server{Addr: a})
			}
			c := cfg(trust)
			if tt.want.stagger > 0 {
				c.Timeouts.Stagger = tt.want.stagger
			}
			if tt.want.tries > 0 {
				c.ConnectTries, c.Backoff = tt.want.tries, time.Second
			}
			start := time.Now()
			conn, i, errs := Race(context.Background(), c, servers)
			took := time.Since(start)
			require.NotNil(t, conn, "errors: %v", errs)
			defer conn.Close()
			assert.Equal(t, tt.want.winner, i)
			assert.Less(t, took, tt.want.within)
			assert.GreaterOrEqual(t, took, tt.want.notBefore)
		})
	}
}

// The losers of a race get no byte of the request: only the winner's
// server sees one.
func TestRaceLosersGetNothing(t *testing.T) {
	now := time.Now()
	good := selfSigned(t, now.Add(-time.Hour), now.Add(time.Hour))
	a := slowServer(t, good, 150*time.Millisecond)
	b := slowServer(t, good, 0)
	c := cfg(pinned{good.Certificate[0]})
	var out []byte
	w := writerFunc(func(p []byte) (int, error) { out = append(out, p...); return len(p), nil })
	conn, i, errs := Race(context.Background(), c, []Server{{Addr: a.Addr}, {Addr: b.Addr}})
	require.NotNil(t, conn, "%v", errs)
	require.Equal(t, 0, i)
	_, err := Deliver(context.Background(), c, conn, []byte("zip"), w)
	require.NoError(t, err)
	assert.Equal(t, "ok", string(out))
	time.Sleep(100 * time.Millisecond) // let the loser's handler see its close
	na, _ := a.Got()
	nb, connsB := b.Got()
	assert.Equal(t, 1, na)
	assert.Equal(t, 1, connsB, "the loser completed its handshake")
	assert.Zero(t, nb, "the loser got no request byte")
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// The last hope is patient: a refused port is tried again until a server
// starts there; a hung one is waited for until the bound; an interrupt ends
// either at once.
func TestRaceLastHope(t *testing.T) {
	now := time.Now()
	good := selfSigned(t, now.Add(-time.Hour), now.Add(time.Hour))
	trust := pinned{good.Certificate[0]}

	t.Run("a server that starts late is reached", func(t *testing.T) {
		addr := closedPort(t)
		go func() {
			time.Sleep(250 * time.Millisecond)
			ln, err := tls.Listen("tcp", addr, &tls.Config{Certificates: []tls.Certificate{good}})
			if err != nil {
				return // the port was taken meanwhile; the test fails below
			}
			t.Cleanup(func() { ln.Close() })
			c, err := ln.Accept()
			if err == nil {
				c.(*tls.Conn).Handshake()
				c.Close()
			}
		}()
		c := cfg(trust)
		c.ConnectTries, c.Backoff = 5, 100*time.Millisecond
		var events []Event
		c.Observe = func(e Event) { events = append(events, e) }
		conn, _, errs := Race(context.Background(), c, []Server{{Addr: addr}})
		require.NotNil(t, conn, "%v", errs)
		conn.Close()
		var retries int
		for _, e := range events {
			if e.Err != nil {
				assert.Equal(t, 100*time.Millisecond, e.Retry, "every failure said a retry follows")
				retries++
			}
		}
		assert.Positive(t, retries)
	})
	t.Run("refused for good after the tries", func(t *testing.T) {
		c := cfg(trust)
		c.ConnectTries, c.Backoff = 3, 10*time.Millisecond
		var fails int
		c.Observe = func(e Event) {
			if e.Err != nil {
				fails++
			}
		}
		conn, i, errs := Race(context.Background(), c, []Server{{Addr: closedPort(t)}})
		require.Nil(t, conn)
		assert.Equal(t, -1, i)
		var te *Error
		require.ErrorAs(t, errs[0], &te)
		assert.Equal(t, KindConnect, te.Kind)
		assert.Equal(t, 3, fails)
	})
	t.Run("a hung server is waited for until the bound", func(t *testing.T) {
		c := cfg(trust)
		c.Timeouts.Bound = 300 * time.Millisecond
		var phases []Phase
		c.Observe = func(e Event) { phases = append(phases, e.Phase) }
		start := time.Now()
		conn, _, errs := Race(context.Background(), c, []Server{{Addr: hungServer(t)}})
		require.Nil(t, conn)
		assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)
		var te *Error
		require.ErrorAs(t, errs[0], &te)
		assert.Equal(t, KindTimeout, te.Kind)
		assert.Equal(t, []Phase{PhaseConnecting, PhaseWaiting}, phases)
	})
	t.Run("an interrupt ends the wait at once", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		conn, _, errs := Race(ctx, cfg(trust), []Server{{Addr: hungServer(t)}})
		require.Nil(t, conn)
		assert.Less(t, time.Since(start), time.Second)
		var te *Error
		require.ErrorAs(t, errs[0], &te)
		assert.Equal(t, KindInterrupted, te.Kind)
	})
}

// Deliver reports the exchange's phases with the bytes received.
func TestDeliverPhases(t *testing.T) {
	now := time.Now()
	good := selfSigned(t, now.Add(-time.Hour), now.Add(time.Hour))
	s := startServer(t, good, func(c net.Conn, req []byte) {
		time.Sleep(50 * time.Millisecond)
		c.Write(make([]byte, 1000))
	})
	c := cfg(pinned{good.Certificate[0]})
	var last Event
	var phases []Phase
	c.Observe = func(e Event) {
		if len(phases) == 0 || phases[len(phases)-1] != e.Phase {
			phases = append(phases, e.Phase)
		}
		last = e
	}
	_, err := Exchange(context.Background(), c, Server{Addr: s.Addr}, []byte("zip"), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []Phase{PhaseConnecting, PhaseWaiting, PhaseCompiling, PhaseReceiving}, phases)
	assert.Equal(t, int64(1000), last.Bytes)
}
