// SPDX-License-Identifier: GPL-2.0-or-later

// Package docs holds the man page; its tests keep the page in step with the
// code.
package docs

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/internal/stapargs"
)

const page = "stap-client.8"

// plain is the page's source with the roff escapes that matter for
// searching undone: \- is a minus, \fX a font change, \e a backslash.
func plain(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile(page)
	require.NoError(t, err)
	s := regexp.MustCompile(`\\f[BIRP]|\\c`).ReplaceAllString(string(src), "")
	return strings.NewReplacer(`\-`, "-", `\e`, `\`, `\(aq`, "'").Replace(s)
}

// TestEveryOptionDocumented fails when an option exists in the option
// table but not in the man page.
func TestEveryOptionDocumented(t *testing.T) {
	text := plain(t)
	for _, o := range stapargs.Options() {
		for _, s := range o.Spellings() {
			re := regexp.MustCompile(`(^|[^A-Za-z0-9-])` + regexp.QuoteMeta(s) + `($|[^A-Za-z0-9-])`)
			assert.True(t, re.MatchString(text), "%s is in the option table but not in docs/%s", s, page)
		}
	}
}

func TestManPageContent(t *testing.T) {
	text := plain(t)
	tests := []struct{ what, want string }{
		{"section NAME", ".SH NAME"},
		{"section SYNOPSIS", ".SH SYNOPSIS"},
		{"section OPTIONS", ".SH OPTIONS"},
		{"section SERVER DISCOVERY", ".SH SERVER DISCOVERY"},
		{"section TRUST", ".SH TRUST"},
		{"section FILES", ".SH FILES"},
		{"section ENVIRONMENT", ".SH ENVIRONMENT"},
		{"section EXIT STATUS", ".SH EXIT STATUS"},
		{"section EXAMPLES", ".SH EXAMPLES"},
		{"section SAFETY AND SECURITY", ".SH SAFETY AND SECURITY"},
		{"section CACHE", ".SH CACHE"},
		{"cache directory", "$SYSTEMTAP_DIR/client-cache"},
		{"cache limit file", "cache_mb_limit"},
		{"a fixed date", `.TH STAP-CLIENT 8 "2026-11-21"`},
		{"Hello World example", `stap-client -e 'probe begin { printf("Hello World!\n"); exit() }'`},
		{"--server example", "stap-client --server=10.0.0.7:5555"},
		{"--ssl example", "--ssl=$HOME/certs"},
		{"-p4 example", "-p4 -m hello"},
		{"mDNS service", "_stap._tcp"},
		{"private database", "$SYSTEMTAP_DIR/ssl/client"},
		{"private database default", "~/.systemtap/ssl/client"},
		{"global database", "/etc/systemtap/ssl/client"},
		{"signers", "/etc/systemtap/staprun"},
		{"SYSTEMTAP_DIR", ".B SYSTEMTAP_DIR"},
		{"SYSTEMTAP_STAPRUN", ".B SYSTEMTAP_STAPRUN"},
		{"TMPDIR", ".B TMPDIR"},
		{"locale", "LC_ALL"},
	}
	for _, tt := range tests {
		assert.Contains(t, text, tt.want, tt.what)
	}
	// The trust search order, as certdb.Locations has it.
	ssl := strings.Index(text, "each\n.BI --ssl=")
	priv := strings.Index(text, ".IP 2.\n.BR $SYSTEMTAP_DIR/ssl/client")
	glob := strings.Index(text, ".IP 3.\n.BR /etc/systemtap/ssl/client")
	assert.True(t, ssl > 0 && ssl < priv && priv < glob, "trust order: --ssl, private, global (%d %d %d)", ssl, priv, glob)
}

// TestManRenders renders the page as man -l does and fails on any groff
// warning. make test installs man-db (see the Makefile's test-deps).
func TestManRenders(t *testing.T) {
	if _, err := exec.LookPath("man"); err != nil {
		t.Skip("man is not installed (make test-deps installs man-db)")
	}
	cmd := exec.Command("man", "--warnings", "-l", page)
	cmd.Env = append(os.Environ(), "MANWIDTH=80", "MANPAGER=cat", "PAGER=cat", "LANG=C.UTF-8")
	var out, errs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errs
	require.NoError(t, cmd.Run(), "%s", errs.String())
	assert.Empty(t, errs.String(), "man -l warnings")
	for _, want := range []string{"STAP-CLIENT(8)", "SAFETY AND SECURITY", "--server=HOST|IP[:PORT]", `printf("Hello World!\n")`} {
		assert.Contains(t, out.String(), want)
	}
}

// TestManPageRefsAndRules: the page refers to pages Debian and Fedora ship
// (stap-server(8); there is no stap-serverd(8)), its exit status states
// the pass-5 interrupt rule, and its COMPATIBILITY list has the hints
// stap-client words differently.
func TestManPageRefsAndRules(t *testing.T) {
	text := plain(t)
	assert.NotRegexp(t, `stap-serverd \(8\)`, text)
	assert.Contains(t, text, ".BR stap-server (8)")
	exit := text[strings.Index(text, ".SH EXIT STATUS"):]
	exit = exit[:strings.Index(exit[1:], ".SH ")]
	for _, want := range []string{"as SIGTERM", "exits with status 0, so does stap-client", "before pass 5", "third interrupt during pass 5"} {
		assert.Contains(t, exit, want, "EXIT STATUS")
	}
	compat := text[strings.Index(text, ".SH COMPATIBILITY"):]
	for _, want := range []string{"Give the script as a file name", "[man stap-client]"} {
		assert.Contains(t, compat, want, "COMPATIBILITY")
	}
}
