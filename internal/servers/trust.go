// SPDX-License-Identifier: GPL-2.0-or-later

package servers

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
	"github.com/stap-client/stap-client/internal/stapmsg"
	"github.com/stap-client/stap-client/internal/transport"
)

// SignerDir is the database staprun checks module signatures against.
const SignerDir = "/etc/systemtap/staprun"

// trustSpec is a parsed --trust-servers value.
type trustSpec struct {
	ssl, signer, revoke, allUsers, noPrompt bool
}

// parseTrustSpec reads the comma list as stap 4.8 does; unknown words warn.
func (f *Finder) parseTrustSpec(spec string) (trustSpec, error) {
	var t trustSpec
	var fail []string
	for _, w := range strings.Split(spec, ",") {
		switch w {
		case "ssl":
			t.ssl = true
		case "signer", "all-users":
			if f.UID != 0 {
				fail = append(fail, "Only root can specify '"+w+"' on --trust-servers")
			}
			t.signer = t.signer || w == "signer"
			t.allUsers = t.allUsers || w == "all-users"
		case "revoke":
			t.revoke = true
		case "no-prompt":
			t.noPrompt = true
		default:
			f.Out.Warn("Unrecognized server trust specification: " + w)
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

// Trust carries out --trust-servers=spec. It reports success.
func (f *Finder) Trust(ctx context.Context, spec string) bool {
	t, err := f.parseTrustSpec(spec)
	if err != nil {
		f.Out.Errf("%s", err.Error())
		return false
	}
	cands, err := f.trustCandidates(ctx)
	if err != nil || len(cands) == 0 {
		if len(f.Specs) == 0 {
			f.Out.Errf("No servers identified for trust")
		} else {
			f.Out.Errf("%s: ERROR: %v", stapmsg.Prog, err)
		}
		return false
	}
	verb := map[[2]bool]string{{false, false}: "Add trust", {false, true}: "Adding trust", {true, false}: "Revoke trust", {true, true}: "Revoking trust"}[[2]bool{t.revoke, t.noPrompt}]
	q := ""
	if !t.noPrompt {
		q = "?"
	}
	f.Out.Errf("%s in the following servers %s%s", verb, t.describe(), q)
	for _, c := range cands {
		f.Out.Errf("  %s", c.String())
	}
	if !t.noPrompt {
		fmt.Fprint(f.Out.Writer(), "[y/N] ")
		if !yes(f.Stdin) {
			f.Out.Errf("Server trust unchanged")
			return true
		}
	}
	var dirs []certdb.Location
	if t.ssl {
		if t.allUsers {
			dirs = append(dirs, certdb.Location{Dir: certdb.GlobalDir, Kind: certdb.KindGlobal, Base: certdb.GlobalBase})
		} else {
			dirs = append(dirs, certdb.Location{Dir: certdb.PrivateDir(f.LookupEnv), Kind: certdb.KindPrivate, Base: certdb.PrivateBase(f.LookupEnv)})
		}
	}
	if t.signer {
		dirs = append(dirs, certdb.Location{Dir: SignerDir, Kind: certdb.KindGlobal, Base: certdb.GlobalBase})
	}
	ok := true
	for _, c := range cands {
		if !f.trustOne(ctx, c, dirs, t.revoke) {
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
func (f *Finder) trustOne(ctx context.Context, c discovery.Candidate, dirs []certdb.Location, revoke bool) bool {
	// As patient as a compile's connection: a server still starting is
	// tried again, as stap tries it.
	cfg := transport.Config{Timeouts: f.Timeouts, ConnectTries: 5, Backoff: time.Second}
	cert, err := transport.FetchCertificate(ctx, cfg, transport.Server{Host: c.Host, Addr: c.AddrPort()})
	if err != nil {
		// No space before the printout: it starts with one (stap's text).
		f.Out.Errf("Unable to connect to%s", c.String())
		f.Out.Errf("  %v", err)
		return false
	}
	ok := true
	for _, l := range dirs {
		dir := l.Dir
		if revoke {
			n, err := certdb.RevokeTrust(ctx, dir, certdb.Certinfo(cert))
			if err != nil {
				f.Out.Ours("revoking trust in "+dir, err)
				ok = false
			} else if n == 0 {
				f.Out.Logf(2, "%s is not trusted in %s", c.String(), dir)
			}
			// Its earlier builds are what the user no longer wants.
			f.retire(ctx, certdb.Certinfo(cert))
			continue
		}
		already, err := certdb.AddTrust(ctx, dir, cert.Raw)
		switch {
		case err != nil:
			f.Out.Ours("adding trust to "+dir, err)
			ok = false
		case already:
			f.Out.Logf(2, "%s is already trusted in %s", c.String(), dir)
		}
		if !f.tighten(l) {
			ok = false
		}
	}
	return ok
}

// tighten leaves the database just trusted in usable: stap 5.x makes its
// directories writable by everyone, and such a database is refused.
func (f *Finder) tighten(l certdb.Location) bool {
	changed, err := certdb.Tighten(l, f.UID)
	if len(changed) > 0 {
		f.Out.Errf("%s: removed group and other write permission from %s (stap 5.x leaves them writable; a database others can write is refused)", stapmsg.Prog, strings.Join(changed, ", "))
	}
	if err != nil {
		f.Out.Ours("securing "+l.Dir, err)
		return false
	}
	return true
}

// trustCandidates are the servers named for --trust-servers; they must say
// where to connect.
func (f *Finder) trustCandidates(ctx context.Context) ([]discovery.Candidate, error) {
	var specs []discovery.Spec
	for _, s := range f.Specs {
		if s.Default {
			continue
		}
		if s.Err != nil {
			return nil, s.Err
		}
		specs = append(specs, s.Spec)
	}
	return discovery.Direct(ctx, specs, f.Lookup)
}
