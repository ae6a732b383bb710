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
	if len(servers) == 0 {
		return nil, -1, []error{}
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends every attempt still running
	var bound <-chan time.Time
	if cfg.Timeouts.Bound > 0 {
		t := time.NewTimer(cfg.Timeouts.Bound)
		defer t.Stop()
		bound = t.C
	}
	r := newRace(rctx, cfg, servers)
	defer r.stopTimers()
	r.start()
	for {
		if b := r.best(); b >= 0 && allOut(r.failed[:b], r.hopeless[:b]) {
			return r.win(b)
		}
		if r.live == 0 && r.next == len(servers) {
			return nil, -1, r.errs
		}
		select {
		case m := <-r.msgs:
			r.receive(m)
		case <-r.stagger.C:
			if r.next < len(servers) && r.best() < 0 {
				r.start()
			}
		case <-r.decide:
			return r.win(r.best())
		case <-bound:
			return r.abandon(KindTimeout, fmt.Errorf("no trusted answer within %v", cfg.Timeouts.Bound))
		case <-ctx.Done():
			return r.abandon(KindInterrupted, ctx.Err())
		}
	}
}

// race is the state of one Race; only Race's loop touches it.
type race struct {
	ctx     context.Context // the attempts'; ends when Race returns
	cfg     Config
	servers []Server
	msgs    chan raceMsg
	stagger *time.Timer
	// decide fires a stagger after the first trusted handshake: the
	// winner is chosen then at the latest (nil before).
	decide      <-chan time.Time
	decideTimer *time.Timer

	conns  []*Conn
	errs   []error
	failed []bool
	// hopeless: a better-ranked server not worth holding a winner for,
	// because it could not finish a handshake within the window: it is
	// waiting out the backoff after a refusal, or its TCP connect is still
	// unanswered (it started at least a stagger before the winner, so its
	// SYN is waiting for a retransmission).
	hopeless   []bool
	next, live int
}

func newRace(ctx context.Context, cfg Config, servers []Server) *race {
	n := len(servers)
	return &race{
		ctx: ctx, cfg: cfg, servers: servers,
		msgs:     make(chan raceMsg),
		stagger:  time.NewTimer(cfg.Timeouts.Stagger),
		conns:    make([]*Conn, n),
		errs:     make([]error, n),
		failed:   make([]bool, n),
		hopeless: make([]bool, n),
	}
}

func (r *race) stopTimers() {
	r.stagger.Stop()
	if r.decideTimer != nil {
		r.decideTimer.Stop()
	}
}

// start starts the next server's attempt and restarts the stagger.
func (r *race) start() {
	i := r.next
	r.next++
	r.live++
	go attempt(r.ctx, r.cfg, i, r.servers[i], r.msgs)
	r.stagger.Reset(r.cfg.Timeouts.Stagger)
}

// best is the best-ranked server with a trusted handshake, or -1.
func (r *race) best() int {
	for i, c := range r.conns {
		if c != nil {
			return i
		}
	}
	return -1
}

// win closes every connection but server i's and returns it.
func (r *race) win(i int) (*Conn, int, []error) {
	for j, c := range r.conns {
		if c != nil && j != i {
			c.Close()
		}
	}
	return r.conns[i], i, r.errs
}

// abandon ends the race without a winner: every server started and not
// failed for good fails with err.
func (r *race) abandon(kind Kind, err error) (*Conn, int, []error) {
	for i := range r.next {
		if !r.failed[i] {
			r.errs[i] = &Error{Kind: kind, Server: r.servers[i], Op: "connecting to", Err: err}
		}
	}
	return nil, -1, r.errs
}

// receive takes one attempt's news.
func (r *race) receive(m raceMsg) {
	switch {
	case m.log != nil:
		m.log()
	case m.conn != nil:
		r.live--
		r.conns[m.i] = m.conn
		if r.decide == nil {
			r.decideTimer = time.NewTimer(r.cfg.Timeouts.Stagger)
			r.decide = r.decideTimer.C
		}
	case m.err != nil:
		r.errs[m.i] = m.err
		r.cfg.observe(Event{Index: m.i, Server: r.servers[m.i], Err: m.err, Retry: m.retry})
		r.hopeless[m.i] = m.retry > 0
		if m.retry == 0 {
			r.live--
			r.failed[m.i] = true
		}
		if r.next < len(r.servers) && r.best() < 0 {
			r.start() // a failure frees the next one at once
		}
	default:
		r.hopeless[m.i] = m.phase == PhaseConnecting
		r.cfg.observe(Event{Index: m.i, Server: r.servers[m.i], Phase: m.phase})
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
