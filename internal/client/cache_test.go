// SPDX-License-Identifier: GPL-2.0-or-later

package client

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/internal/cache"
	"github.com/stap-client/stap-client/internal/testkit"
)

// p4Reply is a response with the server's own -v lines on stderr.
func p4Reply(t *testing.T) []byte {
	return testkit.ServerZip(t,
		testkit.ZipEntry{Name: "version", Body: "1.6"}, testkit.ZipEntry{Name: "rc", Body: "0"},
		testkit.ZipEntry{Name: "stdout", Body: "/srv/cache/" + modName + ".ko\n"},
		testkit.ZipEntry{Name: "stderr", Body: "Pass 1: parsed user script and 481 library scripts using 1/2/3/4 kb, in 9usr/9sys/9real ms.\n"},
		testkit.ZipEntry{Name: "stap000000/", Mode: 0o755 | os.ModeDir},
		testkit.ZipEntry{Name: "stap000000/" + modName + ".ko", Body: "\x7fELF module"},
		testkit.ZipEntry{Name: "stap000000/" + modName + ".ko.sgn", Body: "sig"},
		testkit.ZipEntry{Name: "stap000000/" + modName + ".c", Body: "the source, not cached"},
	)
}

// cachedRun runs with the result cache in sysdir.
func cachedRun(t *testing.T, sysdir string, args ...string) result {
	t.Helper()
	return runEnv(t, nil, map[string]string{"SYSTEMTAP_DIR": sysdir}, args...)
}

var hello = []string{"-p4", "-e", "probe begin { exit() }"}

func TestCacheHitNeedsNoServer(t *testing.T) {
	s := startFake(t, p4Reply(t))
	sysdir := t.TempDir()
	srv := []string{"--server=" + s.Addr, "--ssl=" + s.CertDir}

	miss := cachedRun(t, sysdir, append(srv, hello...)...)
	require.Equal(t, 0, miss.code, miss.stderr)
	require.Len(t, s.Requests, 1)
	<-s.Requests

	s.Stop() // the server that built it is down: its result still answers
	down := []string{"--server=" + s.Addr, "--ssl=" + s.CertDir}
	hit := cachedRun(t, sysdir, append(down, hello...)...)
	require.Equal(t, 0, hit.code, hit.stderr)
	assert.Empty(t, s.Requests, "no request for a hit")
	assert.Equal(t, miss.stdout, hit.stdout)
	assert.Equal(t, miss.stderr, hit.stderr)
	assert.Equal(t, testkit.Entries(t, miss.cwd), testkit.Entries(t, hit.cwd))
	for _, f := range testkit.Entries(t, miss.cwd) {
		a, err := os.ReadFile(filepath.Join(miss.cwd, f))
		require.NoError(t, err)
		b, err := os.ReadFile(filepath.Join(hit.cwd, f))
		require.NoError(t, err)
		assert.Equal(t, a, b, f)
	}
	assert.Empty(t, testkit.Entries(t, hit.tmp), "the private temp dir is removed")

	// Discovery is not needed either: no --server at all (the --ssl that
	// trusts the builder is still given: a hit must pass today's trust).
	hit = cachedRun(t, sysdir, append([]string{"--ssl=" + s.CertDir}, hello...)...)
	require.Equal(t, 0, hit.code, hit.stderr)
	assert.Equal(t, miss.stdout, hit.stdout)

	// The cache holds what replay needs, not the whole build tree.
	dirs, err := filepath.Glob(filepath.Join(sysdir, cache.DirName, "??", "*"))
	require.NoError(t, err)
	require.Len(t, dirs, 1)
	assert.NoFileExists(t, filepath.Join(dirs[0], "stap000000", modName+".c"))
	assert.FileExists(t, filepath.Join(dirs[0], "stap000000", modName+".ko.sgn"))
}

func TestCacheVerbose(t *testing.T) {
	s := startFake(t, p4Reply(t))
	sysdir := t.TempDir()
	args := append([]string{"--server=" + s.Addr, "--ssl=" + s.CertDir, "-v"}, hello...)
	miss := cachedRun(t, sysdir, args...)
	require.Equal(t, 0, miss.code, miss.stderr)
	assert.Contains(t, miss.stderr, "Using a compile server.\n")
	assert.Contains(t, miss.stderr, "Passes: via server ")

	hit := cachedRun(t, sysdir, args...)
	require.Equal(t, 0, hit.code, hit.stderr)
	entry := regexp.QuoteMeta(filepath.Join(sysdir, cache.DirName)) + "/[0-9a-f]{2}/[0-9a-f]{64}"
	// The server's lines as they came, then stap's line for a cached module.
	assert.Regexp(t, "^Pass 1: parsed user script .*\nPass 4: using cached "+entry+"/stap000000/"+modName+`\.ko`+"\n$", hit.stderr)
	assert.Equal(t, miss.stdout, hit.stdout)
}

func TestCacheOptions(t *testing.T) {
	s := startFake(t, p4Reply(t))
	srv := []string{"--server=" + s.Addr, "--ssl=" + s.CertDir}
	tests := []struct {
		name        string
		first, then []string
		reaches     bool // the second run reaches the server
		cachedAfter bool // a third plain run is a hit
	}{
		{"identical: a hit", hello, hello, false, true},
		{"--disable-cache neither reads", hello, append([]string{"--disable-cache"}, hello...), true, true},
		{"--disable-cache nor writes", append([]string{"--disable-cache"}, hello...), hello, true, true},
		{"--poison-cache does not read but writes", hello, append([]string{"--poison-cache"}, hello...), true, true},
		{"-k keeps no cache as stap", hello, append([]string{"-k"}, hello...), true, true},
		{"another option is another key", hello, append([]string{"-DMAXACTION=1"}, hello...), true, true},
		{"another script is another key", hello, []string{"-p4", "-e", "probe begin { exit(); }"}, true, true},
		{"-p2 is not cached", []string{"-p2", "-e", "probe begin {}"}, []string{"-p2", "-e", "probe begin {}"}, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sysdir := t.TempDir()
			for len(s.Requests) > 0 {
				<-s.Requests
			}
			r := cachedRun(t, sysdir, append(srv, tc.first...)...)
			require.Equal(t, 0, r.code, r.stderr)
			require.Len(t, s.Requests, 1)
			<-s.Requests
			r = cachedRun(t, sysdir, append(srv, tc.then...)...)
			require.Equal(t, 0, r.code, r.stderr)
			assert.Equal(t, tc.reaches, len(s.Requests) == 1, "reaches the server")
			for len(s.Requests) > 0 {
				<-s.Requests
			}
			r = cachedRun(t, sysdir, append(srv, tc.then...)...)
			require.Equal(t, 0, r.code, r.stderr)
			if strings.Contains(strings.Join(tc.then, " "), "-cache") || tc.then[0] == "-k" {
				return // the third run would repeat the option
			}
			assert.Equal(t, tc.cachedAfter, len(s.Requests) == 0, "the third run is a hit")
		})
	}
}

func TestCacheDamagedEntryGoesToServer(t *testing.T) {
	s := startFake(t, p4Reply(t))
	sysdir := t.TempDir()
	args := append([]string{"--server=" + s.Addr, "--ssl=" + s.CertDir}, hello...)
	miss := cachedRun(t, sysdir, args...)
	require.Equal(t, 0, miss.code, miss.stderr)
	<-s.Requests
	kos, err := filepath.Glob(filepath.Join(sysdir, cache.DirName, "??", "*", "stap000000", modName+".ko"))
	require.NoError(t, err)
	require.Len(t, kos, 1)
	require.NoError(t, os.Truncate(kos[0], 4))

	r := cachedRun(t, sysdir, args...)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Len(t, s.Requests, 1, "the damaged entry is not used")
	<-s.Requests
	assert.Equal(t, miss.stdout, r.stdout)
	assert.Equal(t, miss.stderr, r.stderr, "quiet at -v0")
	data, err := os.ReadFile(filepath.Join(r.cwd, modName+".ko"))
	require.NoError(t, err)
	assert.Equal(t, "\x7fELF module", string(data), "the module is the server's, whole")

	r = cachedRun(t, sysdir, args...)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Empty(t, s.Requests, "stored again, whole")
}

func TestCacheUnsafeDirIsNotUsed(t *testing.T) {
	s := startFake(t, p4Reply(t))
	sysdir := t.TempDir()
	dir := filepath.Join(sysdir, cache.DirName)
	require.NoError(t, os.Mkdir(dir, 0o700))
	require.NoError(t, os.Chmod(dir, 0o777))
	args := append([]string{"--server=" + s.Addr, "--ssl=" + s.CertDir}, hello...)
	for range 2 {
		r := cachedRun(t, sysdir, args...)
		require.Equal(t, 0, r.code, r.stderr)
		assert.True(t, strings.HasPrefix(r.stderr, "stap-client: WARNING: not using the result cache: "+dir+" is writable by others, who could have put anything in it; remove it\nPass 1: "), r.stderr)
		assert.Len(t, s.Requests, 1)
		<-s.Requests
	}
}

func TestCacheClean(t *testing.T) {
	s := startFake(t, p4Reply(t))
	sysdir := t.TempDir()
	args := append([]string{"--server=" + s.Addr, "--ssl=" + s.CertDir}, hello...)
	require.Equal(t, 0, cachedRun(t, sysdir, args...).code)
	<-s.Requests

	// Within the limit: nothing goes.
	r := cachedRun(t, sysdir, "-vv", "--clean-cache", "--bogus-after-it-is-not-parsed")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Empty(t, r.stderr)
	require.Equal(t, 0, cachedRun(t, sysdir, args...).code)
	assert.Empty(t, s.Requests, "still cached")

	require.NoError(t, os.WriteFile(filepath.Join(sysdir, cache.DirName, cache.LimitFile), []byte("0\n"), 0o600))
	r = cachedRun(t, sysdir, "-vv", "--clean-cache")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Regexp(t, "^Cache cleaning successful, removed entries: \n  "+regexp.QuoteMeta(filepath.Join(sysdir, cache.DirName))+"/[0-9a-f]{2}/[0-9a-f]{64}\n$", r.stderr)
	require.Equal(t, 0, cachedRun(t, sysdir, args...).code)
	assert.Len(t, s.Requests, 1, "evicted: compiled again")
}

// TestCachePass5 runs a cached module as a fresh one: copied into the
// private temp dir under its server-given name, with its signature.
func TestCachePass5(t *testing.T) {
	s := startFake(t, p4Reply(t))
	staprunPath, rec := recorder(t, "exit 0\n")
	sysdir := t.TempDir()
	vars := map[string]string{"SYSTEMTAP_DIR": sysdir, "SYSTEMTAP_STAPRUN": staprunPath}
	args := []string{"--server=" + s.Addr, "--ssl=" + s.CertDir, "-e", "probe begin { exit() }"}
	miss := runEnv(t, nil, vars, args...)
	require.Equal(t, 0, miss.code, miss.stderr)
	<-s.Requests
	missArgv := readRec(t, rec, "argv")

	hit := runEnv(t, nil, vars, args...)
	require.Equal(t, 0, hit.code, hit.stderr)
	assert.Empty(t, s.Requests)
	assert.Equal(t, "\x7fELF module", readRec(t, rec, "module"))
	resolved := readRec(t, rec, "resolved")
	assert.True(t, strings.HasPrefix(resolved, hit.tmp+"/stap"), "a copy in the private temp dir: %s", resolved)
	assert.True(t, strings.HasSuffix(resolved, "/stap000000/"+modName+".ko\n"), resolved)
	tmpRe := regexp.MustCompile(regexp.QuoteMeta(hit.tmp) + `/stap[A-Za-z0-9]{6}|` + regexp.QuoteMeta(miss.tmp) + `/stap[A-Za-z0-9]{6}`)
	assert.Equal(t, tmpRe.ReplaceAllString(missArgv, "TMP"), tmpRe.ReplaceAllString(readRec(t, rec, "argv"), "TMP"), "the same staprun command")
	assert.Empty(t, testkit.Entries(t, hit.tmp), "the private temp dir is removed")

	// Another staprun is another key: the module must suit the staprun
	// that runs it.
	other, _ := recorder(t, "exit 0\n# another staprun\n")
	vars["SYSTEMTAP_STAPRUN"] = other
	r := runEnv(t, nil, vars, args...)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Len(t, s.Requests, 1)
}

// TestCacheAutoServer: for a user without stapdev, stap chooses server
// mode by itself and says so at -v0; a hit says it too, so the output is
// the miss's.
func TestCacheAutoServer(t *testing.T) {
	s := startFake(t, p4Reply(t))
	staprunPath, _ := recorder(t, "exit 0\n")
	sysdir := t.TempDir()
	run := func(server string) result {
		return runEnv(t, func(e *Env) { e.Credentials = func() Credentials { return Credentials{Stapusr: true} } },
			map[string]string{"SYSTEMTAP_DIR": sysdir, "SYSTEMTAP_STAPRUN": staprunPath},
			"--server="+server, "--ssl="+s.CertDir, "-e", "probe begin { exit() }")
	}
	miss := run(s.Addr)
	require.Equal(t, 0, miss.code, miss.stderr)
	<-s.Requests
	s.Stop()
	hit := run(s.Addr)
	require.Equal(t, 0, hit.code, hit.stderr)
	assert.Empty(t, s.Requests)
	assert.Contains(t, miss.stderr, "Using a compile server.\n")
	assert.Equal(t, miss.stderr, hit.stderr)
	assert.Equal(t, miss.stdout, hit.stdout)
}
