// SPDX-License-Identifier: GPL-2.0-or-later

package interop

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/test/labenv"
)

// entriesIn lists the result cache's entries under sysdir.
func entriesIn(t *testing.T, sysdir string) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(sysdir, "client-cache", "??", "*"))
	require.NoError(t, err)
	return dirs
}

// TestCacheRevokedServer: a result cached from a trusted server is not
// used once the user revokes that server; revoking also removes it, and
// the run goes to the network, where the server is refused as stap
// refuses it, with nothing written to the cwd.
func TestCacheRevokedServer(t *testing.T) {
	home := freshHome(t) // the lab server is trusted in ~/.systemtap/ssl/client
	sysdir := filepath.Join(home, ".systemtap")
	env := []string{"HOME=" + home}
	cwd := t.TempDir()
	server := "--server=" + theLab.server(t)
	p4 := []string{theLab.Bin, server, "-r", theLab.Get(t, "LAB_RELEASE"), "-p4", "-e", labenv.Hello}

	first := runEnvIn(t, cwd, env, "", p4...)
	require.Equal(t, 0, first.code, first.stderr)
	require.Len(t, entriesIn(t, sysdir), 1, "cached")
	labenv.RemoveProducts(t, cwd)

	revoke := runEnvIn(t, t.TempDir(), env, "", theLab.Bin, server, "--trust-servers=revoke,no-prompt")
	require.Equal(t, 0, revoke.code, revoke.stderr)
	assert.Empty(t, entriesIn(t, sysdir), "revoking the server retired its cached build")

	again := runEnvIn(t, cwd, env, "", p4...)
	assert.Equal(t, 1, again.code, again.stderr)
	assert.Contains(t, again.stderr, "Unable to connect to a server.")
	assert.Contains(t, again.stderr, ": not trusted")
	assert.Empty(t, again.files, "nothing written to the cwd")
	assert.Empty(t, again.stdout)
}

// TestCacheTrustedOnlyThroughSSL: a result cached in a run that trusted
// the server only with --ssl=DIR answers a run with that --ssl, not one
// without it (which goes to the server, untrusted, as stap would).
func TestCacheTrustedOnlyThroughSSL(t *testing.T) {
	sysdir := t.TempDir()
	env := cacheEnv(t, sysdir) // a HOME with no trust database
	cwd := t.TempDir()
	labenv.WriteFixtures(t, cwd)
	script := filepath.Join(cwd, "hello.stp")
	ssl := "--ssl=" + theLab.Get(t, "LAB_CERTDIR")
	p4 := []string{"--server=" + theLab.server(t), "-v", "-r", theLab.Get(t, "LAB_RELEASE"), "-p4", "hello.stp"}
	run := func(extra ...string) outcome {
		t.Helper()
		labenv.RemoveProducts(t, cwd)
		return runEnvIn(t, cwd, env, "", append(append([]string{theLab.Bin}, extra...), p4...)...)
	}

	miss := run(ssl)
	require.Equal(t, 0, miss.code, miss.stderr)
	require.Equal(t, 1, requestsFor(t, script))

	without := run()
	assert.Equal(t, 1, without.code, without.stderr)
	assert.Contains(t, without.stderr, "stap-client: cached result not used: its server is no longer trusted\n")
	assert.Contains(t, without.stderr, ": not trusted")
	for _, f := range without.files {
		assert.True(t, labenv.IsFixture(f), "nothing but the fixtures in the cwd: %s", f)
	}
	assert.Len(t, entriesIn(t, sysdir), 1, "the entry stays for runs that trust its server")

	with := run(ssl)
	require.Equal(t, 0, with.code, with.stderr)
	assert.Contains(t, with.stderr, "Pass 4: using cached ")
	assert.Equal(t, 1, requestsFor(t, script), "answered by the cache")
}

// TestCacheReplayCopyFailed: -m NAME where NAME.ko is a directory in the
// cwd: stap's "Copy failed" line names the module in the temp dir, the
// same on a cold run and on a replay.
func TestCacheReplayCopyFailed(t *testing.T) {
	sysdir := t.TempDir()
	env := cacheEnv(t, sysdir)
	cwd := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(cwd, "hellodir.ko"), 0o755))
	argv := []string{theLab.Bin, "--server=" + theLab.server(t), "--ssl=" + theLab.Get(t, "LAB_CERTDIR"),
		"-r", theLab.Get(t, "LAB_RELEASE"), "-p4", "-m", "hellodir", "-e", labenv.Hello}
	cold := runEnvIn(t, cwd, env, "", argv...)
	require.Len(t, entriesIn(t, sysdir), 1, "cached")
	replay := runEnvIn(t, cwd, env, "", argv...)
	assert.Contains(t, cold.stderr, `Copy failed ("/tmp/stap`)
	assert.Contains(t, cold.stderr, `/hellodir.ko" to "hellodir.ko"): Is a directory`)
	assert.Equal(t, normalize(cold.stderr), normalize(replay.stderr))
	assert.Equal(t, cold.stdout, replay.stdout)
	assert.Equal(t, cold.code, replay.code)
	assert.Equal(t, cold.files, replay.files)
}
