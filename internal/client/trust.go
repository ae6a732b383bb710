// SPDX-License-Identifier: GPL-2.0-or-later

package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/stap-client/stap-client/internal/certdb"
	"github.com/stap-client/stap-client/internal/discovery"
	"github.com/stap-client/stap-client/internal/transport"
)

// SignerDir is the database staprun checks module signatures against.
const SignerDir = "/etc/systemtap/staprun"

// trustSpec is a parsed --trust-servers value.
type trustSpec struct {
	ssl, signer, revoke, allUsers, noPrompt bool
}

// parseTrustSpec reads the comma list as stap 4.8 does; unknown words warn.
func (r *run) parseTrustSpec(spec string) (trustSpec, error) {
	var t trustSpec
	var fail []string
	for _, w := range strings.Split(spec, ",") {
		switch w {
		case "ssl":
			t.ssl = true
		case "signer":
			if r.env.UID != 0 {
				fail = append(fail, "Only root can specify 'signer' on --trust-servers")
			}
			t.signer = true
		case "revoke":
			t.revoke = true
		case "all-users":
			if r.env.UID != 0 {
				fail = append(fail, "Only root can specify 'all-users' on --trust-servers")
			}
			t.allUsers = true
		case "no-prompt":
			t.noPrompt = true
		default:
			r.warn("Unrecognized server trust specification: " + w)
		}
	}
	if len(fail) > 0 {
		return t, errors.New(strings.Join(fail, "\n"))
	}
	if !t.ssl && !t.signer {
		t.ssl = true
	}
	return t, nil
}

// describe is stap's English for what is about to change.
func (t trustSpec) describe() string {
	var s string
	if t.ssl {
		s = "as an SSL peer for the current user"
		if t.allUsers {
			s = "as an SSL peer for all users"
		}
	}
	if t.signer {
		if t.ssl {
			s += " and "
		}
		s += "as a module signer for all users"
	}
	return s
}

// manageTrust carries out --trust-servers. It reports success.
func (r *run) manageTrust(ctx context.Context) bool {
	t, err := r.parseTrustSpec(r.inv.TrustServers)
	if err != nil {
		r.errf("%s", err.Error())
		return false
	}
	cands, err := r.trustCandidates(ctx)
	if err != nil || len(cands) == 0 {
		if len(r.inv.Servers) == 0 {
			r.errf("No servers identified for trust")
		} else {
			r.errf("%s: ERROR: %v", Prog, err)
		}
		return false
	}
	verb := map[[2]bool]string{{false, false}: "Add trust", {false, true}: "Adding trust", {true, false}: "Revoke trust", {true, true}: "Revoking trust"}[[2]bool{t.revoke, t.noPrompt}]
	q := ""
	if !t.noPrompt {
		q = "?"
	}
	r.errf("%s in the following servers %s%s", verb, t.describe(), q)
	for _, c := range cands {
		r.errf("  %s", c.String())
	}
	if !t.noPrompt {
		fmt.Fprint(r.env.Stderr, "[y/N] ")
		if !yes(r.env.Stdin) {
			r.errf("Server trust unchanged")
			return true
		}
	}
	var dirs []certdb.Location
	if t.ssl {
		if t.allUsers {
			dirs = append(dirs, certdb.Location{Dir: certdb.GlobalDir, Kind: certdb.KindGlobal, Base: certdb.GlobalBase})
		} else {
			dirs = append(dirs, certdb.Location{Dir: certdb.PrivateDir(r.env.LookupEnv), Kind: certdb.KindPrivate, Base: certdb.PrivateBase(r.env.LookupEnv)})
		}
	}
	if t.signer {
		dirs = append(dirs, certdb.Location{Dir: SignerDir, Kind: certdb.KindGlobal, Base: certdb.GlobalBase})
	}
	ok := true
	for _, c := range cands {
		if !r.trustOne(ctx, c, dirs, t.revoke) {
			ok = false
		}
	}
	return ok
}

// yes reads one word, as stap's `cin >> response`: y or Y accepts.
func yes(in io.Reader) bool {
	if in == nil {
		return false
	}
	sc := bufio.NewScanner(in)
	sc.Split(bufio.ScanWords)
	return sc.Scan() && (sc.Text()[0] == 'y' || sc.Text()[0] == 'Y')
}

// trustOne learns the server's certificate over a trust-only connection
// and adds it to, or removes it from, each database.
func (r *run) trustOne(ctx context.Context, c discovery.Candidate, dirs []certdb.Location, revoke bool) bool {
	// As patient as a compile's connection: a server still starting is
	// tried again, as stap tries it.
	cfg := transport.Config{Timeouts: r.env.Timeouts, ConnectTries: 5, Backoff: time.Second}
	cert, err := transport.FetchCertificate(ctx, cfg, transport.Server{Host: c.Host, Addr: c.AddrPort()})
	if err != nil {
		// No space before the printout: it starts with one (stap's text).
		r.errf("Unable to connect to%s", c.String())
		r.errf("  %v", err)
		return false
	}
	ok := true
	for _, l := range dirs {
		dir := l.Dir
		if revoke {
			n, err := certdb.RevokeTrust(ctx, dir, certdb.Certinfo(cert))
			if err != nil {
				r.ours("revoking trust in "+dir, err)
				ok = false
			} else if n == 0 {
				r.logf(2, "%s is not trusted in %s", c.String(), dir)
			}
			continue
		}
		already, err := certdb.AddTrust(ctx, dir, cert.Raw)
		switch {
		case err != nil:
			r.ours("adding trust to "+dir, err)
			ok = false
		case already:
			r.logf(2, "%s is already trusted in %s", c.String(), dir)
		}
		if !r.tighten(l) {
			ok = false
		}
	}
	return ok
}

// tighten leaves the database just trusted in usable: stap 5.x makes its
// directories writable by everyone, and such a database is refused.
func (r *run) tighten(l certdb.Location) bool {
	changed, err := certdb.Tighten(l, r.env.UID)
	if len(changed) > 0 {
		r.errf("%s: removed group and other write permission from %s (stap 5.x leaves them writable; a database others can write is refused)", Prog, strings.Join(changed, ", "))
	}
	if err != nil {
		r.ours("securing "+l.Dir, err)
		return false
	}
	return true
}

// trustCandidates are the servers named for --trust-servers; they must say
// where to connect.
func (r *run) trustCandidates(ctx context.Context) ([]discovery.Candidate, error) {
	var specs []discovery.Spec
	for _, raw := range r.inv.Servers {
		if raw == "" {
			continue
		}
		s, err := discovery.ParseSpec(raw)
		if err != nil {
			return nil, err
		}
		specs = append(specs, s)
	}
	return discovery.Direct(ctx, specs, r.env.Lookup)
}
