// SPDX-License-Identifier: GPL-2.0-or-later

package client

import (
	"archive/zip"
	"bytes"
	"io"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/internal/testkit"
)

// requestArgv reads argv1..N from a request zip.
func requestArgv(t *testing.T, req []byte) []string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(req), int64(len(req)))
	require.NoError(t, err)
	byN := map[int]string{}
	for _, f := range zr.File {
		if n, err := strconv.Atoi(strings.TrimPrefix(f.Name, "argv")); err == nil && strings.HasPrefix(f.Name, "argv") {
			rc, err := f.Open()
			require.NoError(t, err)
			b, err := io.ReadAll(rc)
			require.NoError(t, err)
			byN[n] = string(b)
		}
	}
	keys := make([]int, 0, len(byN))
	for k := range byN {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var out []string
	for _, k := range keys {
		out = append(out, byN[k])
	}
	return out
}

func runAs(t *testing.T, creds Credentials, args ...string) result {
	t.Helper()
	staprunPath, _ := recorder(t, "exit 0\n")
	return runEnv(t, func(e *Env) { e.Credentials = func() Credentials { return creds } },
		map[string]string{"SYSTEMTAP_STAPRUN": staprunPath}, args...)
}

func TestPass5PrivilegeAdjust(t *testing.T) {
	const usrMsg = "--privilege=stapusr was automatically selected because you are a member of the group stapusr.  [man stap]"
	const sysMsg = "--privilege=stapsys was automatically selected because you are a member of the groups stapusr and stapsys.  [man stap]"
	auto := func(level string) string {
		return "For users with the privilege level " + level + ", the module created by compiling your script must be signed by a trusted systemtap compile-server.  [man stap-server]\n" +
			"--use-server was automatically selected in order to request compilation by a compile-server."
	}
	tests := []struct {
		name     string
		creds    Credentials
		args     []string
		wantArg  string // the privilege argument sent, "" for none
		stderr   []string
		notInErr []string
	}{
		{"root sends nothing", Credentials{Stapdev: true, Stapsys: true, Stapusr: true}, nil, "", nil, []string{"Using a compile server."}},
		{"stapusr", Credentials{Stapusr: true}, nil, "--privilege=stapusr",
			[]string{"Using a compile server."}, []string{usrMsg}},
		{"stapusr at -v explains", Credentials{Stapusr: true}, []string{"-v"}, "--privilege=stapusr",
			[]string{usrMsg + "\n" + auto("stapusr")}, nil},
		{"stapsys at -v", Credentials{Stapsys: true, Stapusr: true}, []string{"-v"}, "--privilege=stapsys",
			[]string{sysMsg + "\n" + auto("stapsys")}, nil},
		{"given privilege is kept", Credentials{Stapusr: true}, []string{"-v", "--privilege=stapusr"}, "--privilege=stapusr",
			[]string{auto("stapusr")}, []string{usrMsg}},
		{"-p4 is not pass 5", Credentials{Stapusr: true}, []string{"-p4"}, "", nil, []string{"Using a compile server."}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := startFake(t, goodP4(t))
			args := append([]string{"--server=" + s.Addr, "--ssl=" + s.CertDir}, tc.args...)
			r := runAs(t, tc.creds, append(args, "-e", "probe begin { exit() }")...)
			require.Equal(t, 0, r.code, r.stderr)
			argv := requestArgv(t, <-s.Requests)
			var priv []string
			for _, a := range argv {
				if strings.HasPrefix(a, "--privilege") {
					priv = append(priv, a)
				}
			}
			if tc.wantArg == "" {
				assert.Empty(t, priv, "%q", argv)
			} else {
				assert.Equal(t, []string{tc.wantArg}, priv, "%q", argv)
				if !strings.Contains(strings.Join(tc.args, " "), "--privilege") {
					assert.Equal(t, tc.wantArg, argv[len(argv)-1], "added after the other options, as stap does")
				}
			}
			for _, w := range tc.stderr {
				assert.Contains(t, r.stderr, w)
			}
			for _, w := range tc.notInErr {
				assert.NotContains(t, r.stderr, w)
			}
		})
	}
}

func TestPass5NormalUserRefused(t *testing.T) {
	r := runAs(t, Credentials{}, "--server=127.0.0.1:1", "--ssl="+t.TempDir(), "-e", "probe begin { exit() }")
	assert.Equal(t, 1, r.code)
	assert.Equal(t, "You are trying to run systemtap as a normal user.\n"+
		"You should either be root, or be part of the group \"stapusr\" and possibly one of the groups \"stapsys\" or \"stapdev\".  [man stap]\n"+
		"Try '--help' for more information. [man stap-client]\n"+
		"A message like [man foo] means for more info, run % man foo\n", r.stderr)
	assert.Empty(t, testkit.Entries(t, r.tmp))
}

func TestPass5GuruNeedsStapdev(t *testing.T) {
	r := runAs(t, Credentials{Stapusr: true}, "--server=127.0.0.1:1", "--ssl="+t.TempDir(), "-g", "-e", "probe begin { exit() }")
	assert.Equal(t, 1, r.code)
	assert.Equal(t, "You can't specify -g and --privilege=stapusr together.\n"+
		"Try '--help' for more information. [man stap-client]\n"+
		"A message like [man foo] means for more info, run % man foo\n", r.stderr)
}
