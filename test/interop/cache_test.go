// SPDX-License-Identifier: GPL-2.0-or-later

package interop

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/test/labenv"
)

// requestsFor counts the requests the lab server logged for a script
// file: its log names each request's arguments, and the script's path is
// unique to the test.
func requestsFor(t *testing.T, script string) int {
	t.Helper()
	log, err := os.ReadFile(theLab.Get(t, "LAB_SERVER_LOG"))
	require.NoError(t, err)
	return strings.Count(string(log), "Options passed from the client: script"+script+" ")
}

// cacheEnv isolates a run's result cache in sysdir (and HOME, for stap-client's
// other files); trust comes from the lab's certificate files via --ssl.
func cacheEnv(t *testing.T, sysdir string) []string {
	return []string{"HOME=" + t.TempDir(), "SYSTEMTAP_DIR=" + sysdir}
}

func moduleOf(t *testing.T, dir string, files []string) []byte {
	t.Helper()
	var kos []string
	for _, f := range files {
		if strings.HasSuffix(f, ".ko") {
			kos = append(kos, f)
		}
	}
	require.Len(t, kos, 1, "one module saved: %v", files)
	data, err := os.ReadFile(filepath.Join(dir, kos[0]))
	require.NoError(t, err)
	require.Equal(t, "\x7fELF", string(data[:4]), "a real kernel module")
	return data
}

// TestCacheAgainstRealServer: a second identical -p4 run is answered with
// no request reaching the server, with the same output and module, also
// with the server unreachable; --disable-cache, --poison-cache and a
// changed option reach the server.
func TestCacheAgainstRealServer(t *testing.T) {
	cwd := t.TempDir()
	labenv.WriteFixtures(t, cwd)
	script := filepath.Join(cwd, "hello.stp")
	sysdir := t.TempDir()
	env := cacheEnv(t, sysdir)
	ssl := "--ssl=" + theLab.Get(t, "LAB_CERTDIR")
	args := []string{"-r", theLab.Get(t, "LAB_RELEASE"), "-p4", "hello.stp"}
	run := func(server string, extra ...string) outcome {
		t.Helper()
		labenv.RemoveProducts(t, cwd)
		argv := append([]string{theLab.Bin, "--server=" + server, ssl}, extra...)
		return runEnvIn(t, cwd, env, "", append(argv, args...)...)
	}
	// offline is run with no network at all: the server is unreachable.
	offline := func(extra ...string) outcome {
		t.Helper()
		labenv.RemoveProducts(t, cwd)
		argv := append([]string{theLab.Bin, "--server=" + theLab.server(t), ssl}, extra...)
		return runOffline(t, cwd, env, append(argv, args...)...)
	}

	miss := run(theLab.server(t))
	require.Equal(t, 0, miss.code, miss.stderr)
	require.Equal(t, 1, requestsFor(t, script), "the first run reaches the server")
	module := moduleOf(t, cwd, miss.files)

	hit := run(theLab.server(t))
	assert.Equal(t, miss, hit, "the same output and files")
	assert.Equal(t, module, moduleOf(t, cwd, hit.files), "the same module bytes")
	assert.Equal(t, 1, requestsFor(t, script), "no request for the second run")

	down := offline()
	assert.Equal(t, miss, down, "a hit needs no server")
	assert.Equal(t, module, moduleOf(t, cwd, down.files))

	// -v is sent to the server, so it is another key: the first -v run
	// compiles, the second replays the server's -v lines and says where
	// the module came from, as stap does for its own cache.
	vmiss := run(theLab.server(t), "-v")
	require.Equal(t, 0, vmiss.code, vmiss.stderr)
	assert.Equal(t, 2, requestsFor(t, script))
	vhit := run(theLab.server(t), "-v")
	require.Equal(t, 0, vhit.code, vhit.stderr)
	assert.Equal(t, 2, requestsFor(t, script))
	assert.Regexp(t, `(?m)^Pass 4: using cached `+sysdir+`/client-cache/[0-9a-f]{2}/[0-9a-f]{64}/stap[A-Za-z0-9]{6}/stap_[0-9a-f]+_[0-9]+\.ko$`, vhit.stderr)
	assert.NotContains(t, vhit.stderr, "Passes: via server")
	serverLines := func(s string) string { // the server's own -v lines
		_, after, _ := strings.Cut(s, "Using a compile server.\n")
		before, _, _ := strings.Cut(after, "Passes: via server")
		return before
	}
	assert.Contains(t, vhit.stderr, serverLines(vmiss.stderr))
	assert.Contains(t, serverLines(vmiss.stderr), "Pass 2: analyzed script")

	// Each of these reaches the server once.
	for i, extra := range [][]string{{"--disable-cache"}, {"--poison-cache"}, {"-w"}} {
		r := run(theLab.server(t), extra...)
		require.Equal(t, 0, r.code, "%v: %s", extra, r.stderr)
		assert.Equal(t, 3+i, requestsFor(t, script), "%v reaches the server", extra)
	}
	// -w's result was stored: it is a hit now.
	r := offline("-w")
	assert.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, 5, requestsFor(t, script))
}

// TestCacheConcurrentMisses: eight identical runs at once, with an empty
// cache, all succeed with the same module and leave one valid entry.
func TestCacheConcurrentMisses(t *testing.T) {
	sysdir := t.TempDir()
	env := cacheEnv(t, sysdir)
	args := []string{theLab.Bin, "--server=" + theLab.server(t), "--ssl=" + theLab.Get(t, "LAB_CERTDIR"),
		"-r", theLab.Get(t, "LAB_RELEASE"), "-p4", "-e", `probe begin { printf("Hello World!\n"); exit() }`}
	const n = 8
	outs := make([]outcome, n)
	cwds := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		cwds[i] = t.TempDir()
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i] = runEnvIn(t, cwds[i], env, "", args...)
		}()
	}
	wg.Wait()
	var module []byte
	var stdout string
	for i, o := range outs {
		if o.code != 0 && serverFailed(t, o.stderr) {
			// stap-serverd 4.8 itself sometimes fails one of many
			// requests at once ("Unable to compress server response" in
			// its log) and closes without a reply; the client says so, as
			// stap would fail too. The other runs must still succeed.
			t.Logf("run %d: the server failed it: %s", i, o.stderr)
			assert.Empty(t, o.files, "run %d: nothing saved", i)
			continue
		}
		require.Equal(t, 0, o.code, "run %d: %s", i, o.stderr)
		m := moduleOf(t, cwds[i], o.files)
		if module == nil {
			module, stdout = m, o.stdout
		}
		assert.Equal(t, module, m, "run %d: the same module", i)
		assert.Equal(t, stdout, o.stdout)
	}
	require.NotNil(t, module, "some runs succeed")
	entries, err := filepath.Glob(filepath.Join(sysdir, "client-cache", "??", "*"))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "one entry")
	tmp, err := os.ReadDir(filepath.Join(sysdir, "client-cache", "tmp"))
	require.NoError(t, err)
	assert.Empty(t, tmp, "nothing left half made")

	// The entry is valid: a run with the server unreachable uses it.
	cwd := t.TempDir()
	o := runOffline(t, cwd, env, args...)
	require.Equal(t, 0, o.code, o.stderr)
	assert.Equal(t, module, moduleOf(t, cwd, o.files))
}

// runOffline is runEnvIn in a network namespace of its own with no
// network at all: every server is unreachable, and a cached result must
// answer by itself.
func runOffline(t *testing.T, cwd string, env []string, argv ...string) outcome {
	t.Helper()
	return runArgv(t, cwd, "", append([]string{"unshare", "--net", "--"}, labenv.Clean(labenv.PathAll, env, argv...)...)...)
}

// serverFailed tells whether a run failed because the lab server failed
// its request: the client saw no reply, and the server logged why.
func serverFailed(t *testing.T, stderr string) bool {
	t.Helper()
	if !strings.Contains(stderr, "the server closed the connection without a reply") {
		return false
	}
	log, err := os.ReadFile(theLab.Get(t, "LAB_SERVER_LOG"))
	require.NoError(t, err)
	return strings.Contains(string(log), "Unable to compress server response")
}
