// SPDX-License-Identifier: GPL-2.0-or-later

// Package exchange is a run's exchange with its compile servers: the
// candidates are raced (transport.Race), the winner gets the request and
// its reply is written to a file; failover rounds, stap's retry after an
// expired certificate, the progress line on a terminal, the -v lines on
// servers passed over, and the one-line texts that say why a server
// failed and what to do about it.
package exchange

import (
	"archive/zip"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/stap-client/stap-client/internal/certdb"
	"github.com/stap-client/stap-client/internal/discovery"
	"github.com/stap-client/stap-client/internal/progress"
	"github.com/stap-client/stap-client/internal/response"
	"github.com/stap-client/stap-client/internal/stapmsg"
	"github.com/stap-client/stap-client/internal/transport"
)

// Config is what one exchange needs.
type Config struct {
	Out    *stapmsg.Printer
	Stores []certdb.Store
	// Timeouts' Bound is the whole connection phase's.
	Timeouts transport.Timeouts
	// MaxReply is what one reply may cost (response.LimitsFor).
	MaxReply int64
	// Quiet is -q: no progress line.
	Quiet bool
	// Over: the request is over a stock server's size limits.
	Over bool
	// Heard, when set, is told of each server that failed for good, and
	// of the one that answered (err nil).
	Heard func(c discovery.Candidate, err error)
}

// Failure is why one candidate was not used.
type Failure struct {
	Cand discovery.Candidate
	Err  error
}

// Result is how an exchange ended.
type Result struct {
	// Winner is the server that replied, "" when none did; Cert is the
	// certificate it was trusted by (nil for a server that closed
	// without a reply).
	Winner discovery.Candidate
	Won    bool
	Cert   *x509.Certificate
	// Failures say why the others were not used.
	Failures []Failure
	// Interrupted says what was going on when an interrupt ended the
	// exchange ("" if none did).
	Interrupted string
}

// Exchange races the candidates, sends req to the first that answers and
// writes its response to zipPath.
func Exchange(ctx context.Context, cfg Config, req []byte, cands []discovery.Candidate, zipPath string) Result {
	if len(cands) == 0 {
		return Result{}
	}
	set, stop := showProgress(cfg, "connecting to "+cands[0].Label())
	defer stop()
	w := &watcher{msg: cfg.Out, set: set}
	// What each server did is told once the race is over: telling may
	// write a file under a lock, which must not hold up the race.
	defer func() {
		if cfg.Heard != nil {
			for _, f := range w.fates {
				cfg.Heard(f.Cand, f.Err)
			}
		}
	}()
	tcfg := transport.Config{
		Stores:       cfg.Stores,
		Timeouts:     cfg.Timeouts,
		Retries:      4,
		ConnectTries: 5,
		Backoff:      time.Second,
		Logf:         cfg.Out.Logf,
		Warnf:        cfg.Out.Errf,
		Observe:      w.observe,
		MaxReply:     cfg.MaxReply,
	}
	if cfg.Over {
		// A stock server resets an oversized request; retrying cannot help.
		tcfg.Retries = 0
	}
	res := round(ctx, tcfg, w, req, cfg.Over, cands, zipPath)
	if !res.Won && ctx.Err() == nil && anyExpired(w.fails) {
		// stap's rule: a server with an expired certificate makes itself
		// a new one, which may be trusted already; give it 2 s and try
		// everything once more.
		cfg.Out.Logf(2, "The server's certificate was expired. Trying again")
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
			w.fails = nil
			res = round(ctx, tcfg, w, req, cfg.Over, cands, zipPath)
		}
	}
	res.Failures = w.fails
	if ctx.Err() != nil && !res.Won {
		res.Interrupted = w.doing
	}
	return res
}

func anyExpired(fails []Failure) bool {
	for _, f := range fails {
		var te *transport.Error
		if errors.As(f.Err, &te) && te.Kind == transport.KindExpired {
			return true
		}
	}
	return false
}

// round races the candidates; the winner gets the request. A winner that
// fails after its handshake is not sent it again: the race goes on among
// the others, which have not seen a byte of it.
func round(ctx context.Context, cfg transport.Config, w *watcher, req []byte, over bool, cands []discovery.Candidate, zipPath string) Result {
	left := cands
	for len(left) > 0 {
		w.start(left)
		servers := make([]transport.Server, len(left))
		for i, c := range left {
			servers[i] = transport.Server{Host: certName(c), Addr: c.AddrPort(), Label: c.String()}
		}
		conn, i, errs := transport.Race(ctx, cfg, servers)
		if conn == nil {
			if ctx.Err() == nil {
				for j, err := range errs {
					w.lost(j, err) // a bound that ran out
				}
			}
			return Result{}
		}
		w.won(i)
		tr, err := deliver(ctx, cfg, conn, req, zipPath)
		var te *transport.Error
		if err == nil || errors.As(err, &te) && te.Connected && (te.Kind == transport.KindNoReply || over && te.Bytes == 0) {
			// A server that closes without replying was reached, as stap
			// sees it: the empty response is reported when unpacked. One
			// that drops an oversized request may also reset the
			// connection or stop reading it while we still write.
			res := Result{Winner: left[i], Won: true}
			if tr != nil {
				res.Cert = tr.Cert
			}
			return res
		}
		if ctx.Err() != nil {
			return Result{}
		}
		w.fail(i, err)
		left = w.others(i)
	}
	return Result{}
}

// certName is the name a server's certificate is checked against:
// stap-serverd's certificate names HOST and HOST.local, never HOST.<DNS
// domain>, so a server found in DNS is checked by its first label (the
// trust decision is the pinned certificate either way).
func certName(c discovery.Candidate) string {
	if c.Domain != "" {
		host, _, _ := strings.Cut(c.Host, ".")
		return host
	}
	return c.Host
}

func deliver(ctx context.Context, cfg transport.Config, conn *transport.Conn, req []byte, zipPath string) (*transport.Result, error) {
	f, err := os.OpenFile(zipPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("creating %s: %w", zipPath, err)
	}
	res, err := transport.Deliver(ctx, cfg, conn, req, f)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("writing %s: %w", zipPath, cerr)
	}
	return res, err
}

// watcher follows the attempts of one exchange: the progress line, the
// verbose failover lines, the failures, and what was going on when an
// interrupt came.
type watcher struct {
	msg    *stapmsg.Printer
	set    func(string)
	cands  []discovery.Candidate // this race's, by the race's index
	phase  []transport.Phase     // 0: not started or out of the race
	out    []bool                // failed for good
	last   []error               // the last failed try, when another follows
	winner int                   // -1 while racing
	fails  []Failure
	doing  string
	fates  []Failure // each server's news, err nil for one that answered
}

func (w *watcher) start(cands []discovery.Candidate) {
	w.cands, w.winner = cands, -1
	w.phase = make([]transport.Phase, len(cands))
	w.out = make([]bool, len(cands))
	w.last = make([]error, len(cands))
}

func (w *watcher) observe(ev transport.Event) {
	i := ev.Index
	if w.winner >= 0 {
		i = w.winner // Deliver speaks of the winner only
	}
	if ev.Err != nil {
		if ev.Retry > 0 {
			w.last[i] = ev.Err
			// Refused now, though tried again: remembered all the same.
			w.fates = append(w.fates, Failure{w.cands[i], ev.Err})
			w.msg.Logf(2, "  Unable to connect: %v; trying again in %v", ev.Err, ev.Retry)
			return
		}
		w.fail(i, ev.Err)
		return
	}
	w.phase[i] = ev.Phase
	// Say what the most advanced attempt is doing; the best-ranked of
	// those that are equally far.
	best := -1
	for j, p := range w.phase {
		if p != 0 && (best < 0 || p > w.phase[best]) {
			best = j
		}
	}
	label := w.cands[best].Label()
	w.doing = w.phase[best].Doing() + " " + label
	if w.phase[best] == transport.PhaseReceiving {
		w.doing = fmt.Sprintf("receiving %s from %s", megabytes(ev.Bytes), label)
	}
	w.set(w.doing)
}

func megabytes(n int64) string {
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}

// fail records that cands[i] failed for good and, at -v, says so.
func (w *watcher) fail(i int, err error) {
	if w.out[i] {
		return
	}
	w.out[i], w.phase[i] = true, 0
	w.fails = append(w.fails, Failure{w.cands[i], err})
	w.fates = append(w.fates, Failure{w.cands[i], err})
	switch out := w.msg; {
	case out.Verbose >= 2:
		out.Errf("  Unable to connect: %v", err)
	case out.Verbose == 1 && len(w.others(-1)) > 0:
		out.Errf("%s: server%s: %s; trying the next one", stapmsg.Prog, w.cands[i].String(), Reason(err, false, false))
	}
}

// lost records a failure the race reported only at its end.
func (w *watcher) lost(i int, err error) {
	if err != nil {
		w.fail(i, err)
	}
}

// won notes the winner and, at -v, the better-ranked servers it was
// preferred to: they had not answered when it did.
func (w *watcher) won(i int) {
	for j := range i {
		if !w.out[j] && w.msg.Verbose >= 1 {
			why := stillDoing(w.phase[j])
			if w.last[j] != nil {
				why = Reason(w.last[j], false, false) + " (it was being tried again)"
			}
			w.msg.Errf("%s: server%s: passed over: %s when server%s answered", stapmsg.Prog, w.cands[j].String(), why, w.cands[i].String())
		}
	}
	w.winner = i
	w.fates = append(w.fates, Failure{w.cands[i], nil})
	for j := range w.phase {
		if j != i {
			w.phase[j] = 0
		}
	}
}

func stillDoing(p transport.Phase) string {
	if p == transport.PhaseWaiting {
		return "connected, but its handshake was still waiting (a busy server)"
	}
	return "no connection yet"
}

// others are this race's candidates not failed for good, less skip.
func (w *watcher) others(skip int) []discovery.Candidate {
	var left []discovery.Candidate
	for j, c := range w.cands {
		if j != skip && !w.out[j] {
			left = append(left, c)
		}
	}
	return left
}

// ExplainFailures prints stap's lines, then ours: why each server failed and
// what to do about it.
func ExplainFailures(out *stapmsg.Printer, cands []discovery.Candidate, fails []Failure, over, haveSSL bool) {
	if !gotReply(fails) {
		out.Errf("Unable to connect to a server.")
	}
	if out.Verbose == 1 {
		out.Errf("The following servers were tried:")
		out.Errf("%s", discovery.Listing(cands))
	}
	for _, f := range fails {
		out.Errf("%s: ERROR: server%s: %s", stapmsg.Prog, f.Cand.String(), Reason(f.Err, over, haveSSL))
	}
}

// Reason says in one line why a server was not used, with a hint.
func Reason(err error, over, haveSSL bool) string {
	var te *transport.Error
	if !errors.As(err, &te) {
		return err.Error()
	}
	if msg := replyFailure(te); msg != "" {
		return msg
	}
	switch te.Kind {
	case transport.KindUntrusted:
		serial := ""
		if te.Cert != nil {
			serial = " (certificate serial " + certdb.Certinfo(te.Cert) + ")"
		}
		hint := "give --ssl=DIR with a directory holding the server's certificate (stap.cert in the server's ~/.systemtap/ssl/server)"
		if haveSSL {
			hint = "none of the --ssl directories holds its certificate; add the server's stap.cert to one if you trust it"
		}
		return "not trusted" + serial + "; nothing was sent to it; " + hint
	case transport.KindExpired:
		return "its certificate has expired or is not yet valid; the server makes a new one when restarted"
	case transport.KindConnect:
		return fmt.Sprintf("cannot connect: %v; check the address and port, and that stap-serverd runs there", te.Err)
	case transport.KindReset:
		if over {
			return "the connection was reset, most likely because the request is over the server's size limits (--max-compressed-request, --max-request-size)"
		}
		return fmt.Sprintf("the connection was reset: %v", te.Err)
	case transport.KindTimeout:
		return fmt.Sprintf("timed out: %v", te.Err)
	case transport.KindInterrupted:
		return "interrupted"
	case transport.KindHandshake:
		return fmt.Sprintf("the TLS handshake failed: %v", te.Err)
	}
	return te.Error()
}

// noReply explains an empty response.
func noReply(over bool) string {
	if over {
		return "the server closed the connection without a reply, most likely because the request is over its size limits (--max-compressed-request, --max-request-size)"
	}
	return "the server closed the connection without a reply; its log (stap-serverd --log) says why"
}

// raiseHint says how an honest server that needs more gets it.
func raiseHint(limit int64) string {
	return fmt.Sprintf("if the server is honest and needs more, set %s to a larger size (e.g. %s=%s)",
		response.MaxReplyEnv, response.MaxReplyEnv, response.FormatSize(2*limit))
}

// replyFailure says what went wrong after a server started to reply, or ""
// when te is another failure.
func replyFailure(te *transport.Error) string {
	switch {
	case te.Kind == transport.KindTooLarge:
		return fmt.Sprintf("the reply is larger than the limit of %s; %s", response.FormatSize(te.Limit), raiseHint(te.Limit))
	case !te.Connected || te.Bytes == 0:
		return ""
	case te.Kind == transport.KindReset:
		return fmt.Sprintf("the connection was reset after %d bytes of the reply", te.Bytes)
	case te.Kind == transport.KindTimeout:
		return fmt.Sprintf("the reply stopped after %d bytes: %v", te.Bytes, te.Err)
	}
	return fmt.Sprintf("receiving the reply failed after %d bytes: %v", te.Bytes, te.Err)
}

// gotReply: some server was reached and started to reply, so stap's
// "Unable to connect to a server." would mislead.
func gotReply(fails []Failure) bool {
	for _, f := range fails {
		var te *transport.Error
		if errors.As(f.Err, &te) && replyFailure(te) != "" {
			return true
		}
	}
	return false
}

// ExplainUnpack reports a reply that could not be unpacked: stap's line
// where stap has one, then ours. budget is the reply's limit.
func ExplainUnpack(out *stapmsg.Printer, err error, winner, zipPath string, over bool, size, budget int64) {
	var le *response.LimitError
	switch {
	case errors.As(err, &le):
		out.Errf("%s: ERROR: server%s: %v; %s", stapmsg.Prog, winner, le, raiseHint(budget))
	case errors.Is(err, response.ErrEmpty):
		out.Errf("Unable to unzip the server response '%s'", zipPath)
		out.Ours(noReply(over), nil)
	case errors.Is(err, zip.ErrFormat):
		out.Errf("Unable to unzip the server response '%s'", zipPath)
		out.Errf("%s: ERROR: server%s: the reply is not a valid zip file (%d bytes, cut short or malformed)", stapmsg.Prog, winner, size)
	default:
		out.Errf("Unable to unzip the server response '%s'", zipPath)
		out.Ours("the server response was refused", err)
	}
}

// showProgress starts the progress line for the exchange with the servers
// and returns the function that changes what it says ("connecting to
// HOST:PORT", ...) and the one that ends it. Meanwhile the run's stderr
// goes through the line, so messages never mix with it. Nothing is drawn
// unless stderr is a terminal and the run is not quiet (-q): pipes and CI
// logs stay clean.
func showProgress(cfg Config, doing string) (set func(string), stop func()) {
	if cfg.Quiet || !progress.IsTerminal(cfg.Out.Writer()) {
		return func(string) {}, func() {}
	}
	p := progress.Start(cfg.Out.Writer(), stapmsg.Prog, doing, progress.Delay, progress.Every, time.Now)
	restore := cfg.Out.Redirect(p)
	return p.Set, func() {
		p.Stop()
		restore()
	}
}
