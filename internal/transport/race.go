// SPDX-License-Identifier: GPL-2.0-or-later

package transport

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Race connects to one of servers, given best first, the way RFC 8305
// ("Happy Eyeballs") connects to one of a host's addresses: the first
// attempt starts at once; each further one starts when the one before it
// fails or has gone Stagger without a trusted handshake, while the earlier
// ones go on. The first trusted handshake wins, except that a better-ranked
// server whose handshake is under way and completes within Stagger of it
// wins instead (one still waiting for its TCP connect, or for its next try
// after a refusal, could not). The losers are closed before a byte of the
// request is sent.
//
// No attempt has a deadline of its own: a dead server costs only the
// stagger, and the last one left is waited for (a busy server's handshake
// waits for a free worker) until ctx ends or Timeouts.Bound passes. A
// refused or unreachable server is tried ConnectTries times, Backoff apart,
// as stap does: a network that is still coming up gets there.
//
// It returns the connection and its server's index, or nil, -1 and each
// server's last failure (nil for a server never tried or abandoned).
func Race(ctx context.Context, cfg Config, servers []Server) (*Conn, int, []error) {
	errs := make([]error, len(servers))
	if len(servers) == 0 {
		return nil, -1, errs
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends every attempt still running
	var bound <-chan time.Time
	if cfg.Timeouts.Bound > 0 {
		t := time.NewTimer(cfg.Timeouts.Bound)
		defer t.Stop()
		bound = t.C
	}
	stagger := time.NewTimer(cfg.Timeouts.Stagger)
	defer stagger.Stop()

	msgs := make(chan raceMsg)
	conns := make([]*Conn, len(servers))
	failed := make([]bool, len(servers))
	// hopeless: a better-ranked server not worth holding a winner for,
	// because it could not finish a handshake within the window: it is
	// waiting out the backoff after a refusal, or its TCP connect is still
	// unanswered (it started at least a stagger before the winner, so its
	// SYN is waiting for a retransmission).
	hopeless := make([]bool, len(servers))
	next, live := 0, 0
	start := func() {
		i := next
		next++
		live++
		go attempt(rctx, cfg, i, servers[i], msgs)
		stagger.Reset(cfg.Timeouts.Stagger)
	}
	best := func() int {
		for i, c := range conns {
			if c != nil {
				return i
			}
		}
		return -1
	}
	win := func(i int) (*Conn, int, []error) {
		for j, c := range conns {
			if c != nil && j != i {
				c.Close()
			}
		}
		return conns[i], i, errs
	}
	var decide <-chan time.Time
	start()
	for {
		if b := best(); b >= 0 && allOut(failed[:b], hopeless[:b]) {
			return win(b)
		}
		if live == 0 && next == len(servers) {
			return nil, -1, errs
		}
		select {
		case m := <-msgs:
			switch {
			case m.log != nil:
				m.log()
			case m.conn != nil:
				live--
				conns[m.i] = m.conn
				if decide == nil {
					t := time.NewTimer(cfg.Timeouts.Stagger)
					defer t.Stop()
					decide = t.C
				}
			case m.err != nil:
				errs[m.i] = m.err
				cfg.observe(Event{Index: m.i, Server: servers[m.i], Err: m.err, Retry: m.retry})
				hopeless[m.i] = m.retry > 0
				if m.retry == 0 {
					live--
					failed[m.i] = true
				}
				if next < len(servers) && best() < 0 {
					start() // a failure frees the next one at once
				}
			default:
				hopeless[m.i] = m.phase == PhaseConnecting
				cfg.observe(Event{Index: m.i, Server: servers[m.i], Phase: m.phase})
			}
		case <-stagger.C:
			if next < len(servers) && best() < 0 {
				start()
			}
		case <-decide:
			return win(best())
		case <-bound:
			for i := range next {
				if !failed[i] {
					errs[i] = &Error{Kind: KindTimeout, Server: servers[i], Op: "connecting to", Err: fmt.Errorf("no trusted answer within %v", cfg.Timeouts.Bound)}
				}
			}
			return nil, -1, errs
		case <-ctx.Done():
			for i := range next {
				if !failed[i] {
					errs[i] = &Error{Kind: KindInterrupted, Server: servers[i], Op: "connecting to", Err: ctx.Err()}
				}
			}
			return nil, -1, errs
		}
	}
}

// allOut: every one of these servers has failed for good or is hopeless.
func allOut(failed, hopeless []bool) bool {
	for i := range failed {
		if !failed[i] && !hopeless[i] {
			return false
		}
	}
	return true
}

// raceMsg is one attempt's news for the race loop, which alone observes
// and logs, so callbacks never run concurrently.
type raceMsg struct {
	i     int
	phase Phase
	log   func()
	conn  *Conn
	err   error
	retry time.Duration
}

// attempt tries one server until it answers, fails for good, or ctx ends.
func attempt(ctx context.Context, cfg Config, i int, srv Server, msgs chan<- raceMsg) {
	send := func(m raceMsg) bool {
		m.i = i
		select {
		case msgs <- m:
			return true
		case <-ctx.Done():
			return false
		}
	}
	acfg := cfg
	if cfg.Logf != nil {
		acfg.Logf = func(level int, format string, args ...any) {
			send(raceMsg{log: func() { cfg.Logf(level, format, args...) }})
		}
	}
	if cfg.Warnf != nil {
		acfg.Warnf = func(format string, args ...any) {
			send(raceMsg{log: func() { cfg.Warnf(format, args...) }})
		}
	}
	tries := max(cfg.ConnectTries, 1)
	for try := 1; ; try++ {
		send(raceMsg{phase: PhaseConnecting})
		c, err := dial(ctx, acfg, srv, func(p Phase) { send(raceMsg{phase: p}) })
		if err == nil {
			if !send(raceMsg{conn: c}) {
				c.Close() // the race is over
			}
			return
		}
		if ctx.Err() != nil {
			return
		}
		if try >= tries || !retryable(err) {
			send(raceMsg{err: err})
			return
		}
		send(raceMsg{err: err, retry: cfg.Backoff})
		if !sleep(ctx, cfg.Backoff) {
			return
		}
	}
}

// retryable: failures that a moment may cure (stap retries a reset; a
// refusal or an unreachable network is what a server still starting or a
// link still coming up looks like).
func retryable(err error) bool {
	var te *Error
	return errors.As(err, &te) && (te.Kind == KindConnect || te.Kind == KindReset)
}
