// SPDX-License-Identifier: GPL-2.0-or-later

package client

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/stap-client/stap-client/internal/certdb"
	"github.com/stap-client/stap-client/internal/discovery"
	"github.com/stap-client/stap-client/internal/transport"
)

// failure is why one candidate was not used.
type failure struct {
	cand discovery.Candidate
	err  error
}

// ConnectTimeoutEnv overrides how long the connection phase may last in all
// (every server, every try): transport.DefaultTimeouts.Bound, 10 minutes.
const ConnectTimeoutEnv = "STAP_CLIENT_CONNECT_TIMEOUT"

// connectBound reads ConnectTimeoutEnv over the environment's default.
func (r *run) connectBound() (time.Duration, error) {
	v := r.env.getenv(ConnectTimeoutEnv)
	if v == "" {
		return r.env.Timeouts.Bound, nil
	}
	d, ok := parseDuration(v)
	if !ok {
		return 0, fmt.Errorf("%s=%q is not a duration (e.g. 10m, 30s or 90)", ConnectTimeoutEnv, v)
	}
	return d, nil
}

// exchange races the candidates (transport.Race), sends the request to the
// first that answers and writes the response to zipPath. It returns the
// winner's printout, or "" and the failures; interrupted says what was
// going on when an interrupt ended it ("" if none did).
func (r *run) exchange(ctx context.Context, req []byte, over bool, cands []discovery.Candidate, zipPath string) (winner string, fails []failure, interrupted string) {
	stores := r.trustStores(ctx)
	if len(cands) == 0 {
		return "", nil, ""
	}
	set, stop := r.showProgress("connecting to " + serverLabel(cands[0]))
	defer stop()
	w := &watcher{r: r, set: set}
	timeouts := r.env.Timeouts
	timeouts.Bound = r.bound
	cfg := transport.Config{
		Stores:       stores,
		Timeouts:     timeouts,
		Retries:      4,
		ConnectTries: 5,
		Backoff:      time.Second,
		Logf:         r.logf,
		Warnf:        func(f string, a ...any) { r.errf(f, a...) },
		Observe:      w.observe,
		MaxReply:     r.budget,
	}
	if over {
		// A stock server resets an oversized request; retrying cannot help.
		cfg.Retries = 0
	}
	winner = r.round(ctx, cfg, w, req, over, cands, zipPath)
	if winner == "" && ctx.Err() == nil && anyExpired(w.fails) {
		// stap's rule: a server with an expired certificate makes itself
		// a new one, which may be trusted already; give it 2 s and try
		// everything once more.
		r.logf(2, "The server's certificate was expired. Trying again")
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
			w.fails = nil
			winner = r.round(ctx, cfg, w, req, over, cands, zipPath)
		}
	}
	if ctx.Err() != nil && winner == "" {
		return "", w.fails, w.doing
	}
	return winner, w.fails, ""
}

func anyExpired(fails []failure) bool {
	for _, f := range fails {
		var te *transport.Error
		if errors.As(f.err, &te) && te.Kind == transport.KindExpired {
			return true
		}
	}
	return false
}

// round races the candidates; the winner gets the request. A winner that
// fails after its handshake is not sent it again: the race goes on among
// the others, which have not seen a byte of it.
func (r *run) round(ctx context.Context, cfg transport.Config, w *watcher, req []byte, over bool, cands []discovery.Candidate, zipPath string) string {
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
			return ""
		}
		w.won(i)
		err := deliver(ctx, cfg, conn, req, zipPath)
		var te *transport.Error
		if err == nil || errors.As(err, &te) && te.Connected && (te.Kind == transport.KindNoReply || over && te.Bytes == 0) {
			// A server that closes without replying was reached, as stap
			// sees it: the empty response is reported when unpacked. One
			// that drops an oversized request may also reset the
			// connection or stop reading it while we still write.
			return left[i].String()
		}
		if ctx.Err() != nil {
			return ""
		}
		w.fail(i, err)
		left = w.others(i)
	}
	return ""
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

func deliver(ctx context.Context, cfg transport.Config, conn *transport.Conn, req []byte, zipPath string) error {
	f, err := os.OpenFile(zipPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		conn.Close()
		return fmt.Errorf("creating %s: %w", zipPath, err)
	}
	_, err = transport.Deliver(ctx, cfg, conn, req, f)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("writing %s: %w", zipPath, cerr)
	}
	return err
}

// watcher follows the attempts of one exchange: the progress line, the
// verbose failover lines, the failures, and what was going on when an
// interrupt came.
type watcher struct {
	r      *run
	set    func(string)
	cands  []discovery.Candidate // this race's, by the race's index
	phase  []transport.Phase     // 0: not started or out of the race
	out    []bool                // failed for good
	last   []error               // the last failed try, when another follows
	winner int                   // -1 while racing
	fails  []failure
	doing  string
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
			w.r.logf(2, "  Unable to connect: %v; trying again in %v", ev.Err, ev.Retry)
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
	label := serverLabel(w.cands[best])
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
	w.fails = append(w.fails, failure{w.cands[i], err})
	r := w.r
	switch {
	case r.verbose >= 2:
		r.errf("  Unable to connect: %v", err)
	case r.verbose == 1 && len(w.others(-1)) > 0:
		r.errf("%s: server%s: %s; trying the next one", Prog, w.cands[i].String(), reason(err, false, false))
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
		if !w.out[j] && w.r.verbose >= 1 {
			why := stillDoing(w.phase[j])
			if w.last[j] != nil {
				why = reason(w.last[j], false, false) + " (it was being tried again)"
			}
			w.r.errf("%s: server%s: passed over: %s when server%s answered", Prog, w.cands[j].String(), why, w.cands[i].String())
		}
	}
	w.winner = i
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

// explainFailures prints stap's lines, then ours: why each server failed and
// what to do about it.
func (r *run) explainFailures(cands []discovery.Candidate, fails []failure, over bool) {
	if !gotReply(fails) {
		r.errf("Unable to connect to a server.")
	}
	if r.verbose == 1 {
		r.errf("The following servers were tried:")
		r.errf("%s", listing(cands))
	}
	for _, f := range fails {
		r.errf("%s: ERROR: server%s: %s", Prog, f.cand.String(), reason(f.err, over, len(r.inv.SSLDirs) > 0))
	}
}

// listing is stap's printout of a server list.
func listing(cands []discovery.Candidate) string {
	if len(cands) == 0 {
		return "No Servers"
	}
	lines := make([]string, len(cands))
	for i, c := range cands {
		lines[i] = c.String()
	}
	return strings.Join(lines, "\n")
}

// reason says in one line why a server was not used, with a hint.
func reason(err error, over, haveSSL bool) string {
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
