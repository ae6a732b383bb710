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

// exchange tries each candidate in order until one answers; the response
// goes to zipPath. It returns the winner's printout, or "" and the failures.
func (r *run) exchange(ctx context.Context, req []byte, over bool, cands []discovery.Candidate, zipPath string) (string, []failure) {
	stores := r.trustStores(ctx)
	if r.verbose >= 3 {
		for _, s := range stores {
			r.errf("Using the certificate database in %s", s.Name())
		}
	}
	cfg := transport.Config{
		Stores:   stores,
		Timeouts: r.env.Timeouts,
		Retries:  4,
		Backoff:  250e6,
		Logf:     r.logf,
		Warnf:    func(f string, a ...any) { r.errf(f, a...) },
		MaxReply: r.budget,
	}
	if over {
		// A stock server resets an oversized request; retrying cannot help.
		cfg.Retries = 0
	}
	winner, fails := r.round(ctx, cfg, req, over, cands, zipPath)
	if winner != "" || ctx.Err() != nil || !anyExpired(fails) {
		return winner, fails
	}
	// stap's rule: a server with an expired certificate makes itself a new
	// one, which may be trusted already; give it 2 s and try everything once
	// more.
	r.logf(2, "The server's certificate was expired. Trying again")
	select {
	case <-ctx.Done():
		return "", fails
	case <-time.After(2 * time.Second):
	}
	return r.round(ctx, cfg, req, over, cands, zipPath)
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

// round tries each candidate once, in order.
func (r *run) round(ctx context.Context, cfg transport.Config, req []byte, over bool, cands []discovery.Candidate, zipPath string) (string, []failure) {
	var fails []failure
	for i, c := range cands {
		err := r.exchangeOne(ctx, cfg, c, req, zipPath)
		var te *transport.Error
		if err == nil || errors.As(err, &te) && te.Connected && (te.Kind == transport.KindNoReply || over) {
			// A server that closes without replying was reached, as stap
			// sees it: the empty response is reported when unpacked. One
			// that drops an oversized request may also reset the
			// connection or stop reading it while we still write.
			return c.String(), nil
		}
		if ctx.Err() != nil {
			fails = append(fails, failure{c, ctx.Err()})
			return "", fails
		}
		switch {
		case r.verbose >= 2:
			r.errf("  Unable to connect: %v", err)
		case r.verbose == 1 && i < len(cands)-1:
			r.errf("%s: server%s: %s; trying the next one", Prog, c.String(), reason(err, over, false))
		}
		fails = append(fails, failure{c, err})
	}
	return "", fails
}

func (r *run) exchangeOne(ctx context.Context, cfg transport.Config, c discovery.Candidate, req []byte, zipPath string) error {
	defer r.showProgress(c)() // a terminal's progress line (progress.go)
	f, err := os.OpenFile(zipPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("creating %s: %w", zipPath, err)
	}
	_, err = transport.Exchange(ctx, cfg, transport.Server{Host: c.Host, Addr: c.AddrPort(), Label: c.String()}, req, f)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("writing %s: %w", zipPath, cerr)
	}
	return err
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
