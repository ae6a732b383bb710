// SPDX-License-Identifier: GPL-2.0-or-later

package client

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/internal/cache"
	"github.com/stap-client/stap-client/internal/testkit"
)

// TestCacheBuilderMustBeTrustedAndNamed: a cached result answers only a
// run that would trust its builder, and, when the run names its servers,
// only a run naming that builder.
func TestCacheBuilderMustBeTrustedAndNamed(t *testing.T) {
	a, b := startFake(t, p4Reply(t)), startFake(t, p4Reply(t))
	sysdir := t.TempDir()
	sslA, sslB := "--ssl="+a.CertDir, "--ssl="+b.CertDir
	run := func(args ...string) result {
		return cachedRun(t, sysdir, append(append([]string{"-v"}, args...), hello...)...)
	}
	miss := run("--server="+a.Addr, sslA, sslB)
	require.Equal(t, 0, miss.code, miss.stderr)
	<-a.Requests

	tests := []struct {
		name  string
		args  []string
		toA   bool   // answered by a
		toB   bool   // answered by b (else from the cache)
		fails bool   // nothing trusts a: the run goes to the network and fails
		says  string // the -v line on the cached result
	}{
		{name: "without the --ssl that trusted its builder", args: []string{"--server=" + a.Addr, sslB}, fails: true,
			says: "stap-client: cached result not used: its server is no longer trusted\n"},
		{name: "the builder named, and trusted", args: []string{"--server=" + a.Addr, sslA}},
		{name: "the builder among the named", args: []string{"--server=" + b.Addr, "--server=" + a.Addr, sslA, sslB}},
		// b's result then takes the entry's place (one entry a request).
		{name: "another named server", args: []string{"--server=" + b.Addr, sslA, sslB}, toB: true,
			says: "stap-client: cached result not used: its server is not one of those given with --server\n"},
		{name: "and now a is the other one", args: []string{"--server=" + a.Addr, sslA, sslB}, toA: true,
			says: "stap-client: cached result not used: its server is not one of those given with --server\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(tt.args...)
			if tt.says != "" {
				assert.Contains(t, r.stderr, tt.says)
			} else {
				assert.Contains(t, r.stderr, "Pass 4: using cached ")
			}
			switch {
			case tt.toB:
				require.Equal(t, 0, r.code, r.stderr)
				require.Len(t, b.Requests, 1, "b compiled it")
				<-b.Requests
			case tt.toA:
				require.Equal(t, 0, r.code, r.stderr)
				require.Len(t, a.Requests, 1, "a compiled it")
				<-a.Requests
			case tt.fails:
				assert.Equal(t, 1, r.code)
				assert.Contains(t, r.stderr, ": not trusted")
				assert.Empty(t, testkit.Entries(t, r.cwd), "nothing written to the cwd")
			default:
				require.Equal(t, 0, r.code, r.stderr)
				assert.Empty(t, b.Requests)
			}
			assert.Empty(t, a.Requests, "a asked only when said")
		})
	}
	// Nothing was removed: the entries are only skipped.
	dirs, err := filepath.Glob(filepath.Join(sysdir, cache.DirName, "??", "*"))
	require.NoError(t, err)
	assert.Len(t, dirs, 1)
}
