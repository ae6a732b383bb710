// SPDX-License-Identifier: GPL-2.0-or-later

package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/internal/discovery"
	"github.com/stap-client/stap-client/internal/request"
	"github.com/stap-client/stap-client/internal/testkit"
	"github.com/stap-client/stap-client/internal/transport"
)

// startFake is a fake compile server that answers every request with
// reply. It stands in for what the real server will not do: hostile and
// broken responses.
func startFake(t *testing.T, reply []byte) *testkit.FakeServer {
	t.Helper()
	return testkit.StartFake(t, testkit.Fake{Handle: testkit.Reply(reply)})
}

const modName = "stap_0123456789abcdef0123456789abcdef_1"

func goodP4(t *testing.T) []byte {
	return testkit.ServerZip(t,
		testkit.ZipEntry{Name: "version", Body: "4.8"}, testkit.ZipEntry{Name: "rc", Body: "0"},
		testkit.ZipEntry{Name: "stdout", Body: "/srv/cache/" + modName + ".ko\n"}, testkit.ZipEntry{Name: "stderr", Body: ""},
		testkit.ZipEntry{Name: "stap000000/", Mode: fs.ModeDir | 0o755},
		testkit.ZipEntry{Name: "stap000000/" + modName + ".ko", Body: "\x7fELF module"},
		testkit.ZipEntry{Name: "stap000000/" + modName + ".ko.sgn", Body: "sig"},
	)
}

type result struct {
	code           int
	stdout, stderr string
	cwd, tmp       string
}

// runClient runs one in-process invocation with TMPDIR pointed at a fresh
// directory, so the test can see that nothing is left behind there.
func runClient(t *testing.T, args ...string) result {
	t.Helper()
	return runClientWith(t, nil, args...)
}

// noServers is a network where nobody answers (tests never send mDNS).
type noServers struct{}

func (noServers) Browse(ctx context.Context, _ chan<- discovery.Service) error {
	<-ctx.Done()
	return nil
}

// servicesAt answers at once with the given services.
type servicesAt []discovery.Service

func (s servicesAt) Browse(ctx context.Context, found chan<- discovery.Service) error {
	for _, x := range s {
		select {
		case found <- x:
		case <-ctx.Done():
			return nil
		}
	}
	<-ctx.Done()
	return nil
}

func runClientWith(t *testing.T, browser discovery.Browser, args ...string) result {
	t.Helper()
	return runEnv(t, func(e *Env) {
		if browser != nil {
			e.Browser = browser
		}
	}, nil, args...)
}

// runEnv runs one in-process invocation in a fresh cwd, with TMPDIR at a
// fresh directory (so a test can see nothing is left there), no network
// discovery, and vars added to the environment; adjust may change the rest.
func runEnv(t *testing.T, adjust func(*Env), vars map[string]string, args ...string) result {
	t.Helper()
	cwd, tmp := t.TempDir(), t.TempDir()
	// SYSTEMTAP_DIR keeps the result cache out of the cwd and of ~root.
	all := map[string]string{"TMPDIR": tmp, "HOME": cwd, "SYSTEMTAP_DIR": t.TempDir(), DiscoveryTimeoutEnv: "300ms"}
	for k, v := range vars {
		all[k] = v
	}
	var so, se bytes.Buffer
	env := Env{
		Args: args, Stdin: strings.NewReader(""), Stdout: &so, Stderr: &se,
		LookupEnv: func(k string) (string, bool) { v, ok := all[k]; return v, ok },
		Cwd:       cwd,
		Host:      request.Host{Release: "6.1.0-56-amd64", Machine: "x86_64"},
		Timeouts:  transport.Timeouts{Stagger: 250 * time.Millisecond, Bound: 5 * time.Second, Write: 5 * time.Second, Idle: 5 * time.Second},
		Version:   "test",
		UID:       os.Geteuid(),
		Browser:   noServers{},
	}
	if adjust != nil {
		adjust(&env)
	}
	code := Run(context.Background(), env)
	return result{code: code, stdout: so.String(), stderr: se.String(), cwd: cwd, tmp: tmp}
}

func TestRunSavesModule(t *testing.T) {
	s := startFake(t, goodP4(t))
	r := runClient(t, "--server="+s.Addr, "--ssl="+s.CertDir, "-p4", "-e", "probe begin { exit() }")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, modName+".ko\n", r.stdout)
	assert.Empty(t, r.stderr)
	assert.ElementsMatch(t, []string{modName + ".ko", modName + ".ko.sgn"}, testkit.Entries(t, r.cwd))
	assert.Empty(t, testkit.Entries(t, r.tmp), "the private temp dir is removed")
	req := <-s.Requests
	assert.NotEmpty(t, req)
}

func TestRunKeepTmp(t *testing.T) {
	s := startFake(t, goodP4(t))
	r := runClient(t, "--server="+s.Addr, "--ssl="+s.CertDir, "-k", "-p4", "-e", "probe begin { exit() }")
	require.Equal(t, 0, r.code, r.stderr)
	kept := testkit.Entries(t, r.tmp)
	require.Len(t, kept, 1)
	assert.Contains(t, r.stderr, "Keeping temporary directory \""+filepath.Join(r.tmp, kept[0])+"\"")
	fi, err := os.Stat(filepath.Join(r.tmp, kept[0]))
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o700), fi.Mode().Perm(), "private")
}

func TestRunHostileResponses(t *testing.T) {
	tests := []struct {
		name  string
		reply []byte
		want  string
	}{
		{"path escape", testkit.ServerZip(t, testkit.ZipEntry{Name: "../../escape", Body: "x"}), "contains .."},
		{"absolute", testkit.ServerZip(t, testkit.ZipEntry{Name: "/tmp/abs-escape", Body: "x"}), "not a relative path"},
		{"link out", testkit.ServerZip(t, testkit.ZipEntry{Name: "stap000000/l", Body: "/etc", Mode: fs.ModeSymlink | 0o777}), "link leads out"},
		{"not a zip", []byte("this is not a zip file at all"), "Unable to unzip the server response"},
		{"no rc", testkit.ServerZip(t, testkit.ZipEntry{Name: "version", Body: "4.8"}), "Unable to open file '"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := startFake(t, tc.reply)
			r := runClient(t, "--server="+s.Addr, "--ssl="+s.CertDir, "-p4", "-e", "probe begin { exit() }")
			assert.Equal(t, 1, r.code)
			assert.Contains(t, r.stderr, tc.want)
			assert.Contains(t, r.stderr, "Passes: via server failed.  Try again with another '-v' option.")
			assert.Empty(t, testkit.Entries(t, r.tmp), "the private temp dir is removed on failure too")
			assert.Empty(t, testkit.Entries(t, r.cwd), "nothing written to the cwd")
			_, err := os.Lstat("/tmp/abs-escape")
			assert.True(t, os.IsNotExist(err))
		})
	}
}

func TestRunUntrustedSendsNothing(t *testing.T) {
	s := startFake(t, goodP4(t))
	other := t.TempDir()
	r := runClient(t, "--server="+s.Addr, "--ssl="+other, "-p2", "-e", "probe begin {}")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "Unable to connect to a server.\n")
	assert.Contains(t, r.stderr, "not trusted")
	select {
	case <-s.Requests:
		t.Fatal("a request reached an untrusted server")
	case <-time.After(100 * time.Millisecond):
	}
	assert.Empty(t, testkit.Entries(t, r.tmp))
}

func TestRunNoReplyOversize(t *testing.T) {
	// A server that reads the request and closes without replying, as
	// stap-serverd does for requests over its limits.
	s := startFake(t, nil)
	big := strings.Repeat("# padding\n", 6000)
	r := runClient(t, "--server="+s.Addr, "--ssl="+s.CertDir, "-p2", "-e", "probe begin {}"+big)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "WARNING: the request is")
	assert.Contains(t, r.stderr, "Unable to unzip the server response")
	assert.Contains(t, r.stderr, "most likely because the request is over its size limits")
}

func TestRunRefusesWhatNeedsLocalStap(t *testing.T) {
	for _, args := range [][]string{
		{"--server=127.0.0.1:1", "-R", "/rt", "-e", "probe begin {}"},
		{"--server=127.0.0.1:1", "--runtime=bpf", "-p4", "-e", "probe begin {}"},
	} {
		r := runClient(t, args...)
		assert.Equal(t, 1, r.code, args)
		assert.Equal(t, 1, strings.Count(r.stderr, "\n"), "one line: %q", r.stderr)
		assert.True(t, strings.HasPrefix(r.stderr, "stap-client: ERROR: "), r.stderr)
	}
}

func TestRunBadSpec(t *testing.T) {
	r := runClient(t, "--server=10.0.0.1:70000", "-p2", "-e", "probe begin {}")
	assert.Equal(t, 1, r.code)
	assert.Equal(t, "Invalid port number specified: 70000\n", r.stderr)
}

// A refused port and a dead address fail over quickly to the next server.
func TestRunFailover(t *testing.T) {
	s := startFake(t, goodP4(t))
	refused := testkit.ClosedPort(t)
	r := runClient(t, "--server="+refused, "--server="+s.Addr, "--ssl="+s.CertDir, "-p4", "-e", "probe begin { exit() }")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, modName+".ko\n", r.stdout)
}

// An expired certificate gets stap's one extra round after 2 s.
func TestRunExpiredRetriesOnce(t *testing.T) {
	cert := testkit.Cert(t, testkit.CertSpec{Serial: 7, NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	s := testkit.StartFake(t, testkit.Fake{Cert: &cert, Handle: testkit.Reply(nil)})
	r := runClient(t, "--server="+s.Addr, "--ssl="+s.CertDir, "-vv", "-p2", "-e", "probe begin {}")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "The server's certificate was expired. Trying again\n")
	assert.Contains(t, r.stderr, "certificate has expired")
	_, conns := s.Got()
	assert.Equal(t, 2, conns, "one round, then one more")
}

// A legacy dbm: database is skipped with the conversion command; the next
// store is still searched.
func TestRunLegacyDatabaseHint(t *testing.T) {
	s := startFake(t, goodP4(t))
	legacy, err := filepath.Abs("../certdb/testdata/db/legacy")
	require.NoError(t, err)
	r := runClient(t, "--server="+s.Addr, "--ssl="+legacy, "--ssl="+s.CertDir, "-p4", "-e", "probe begin { exit() }")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "stap-client: WARNING: "+legacy+" holds a legacy NSS database (cert8.db), which stap-client cannot read; convert it with: certutil -M -n stap-server -t P,P,P -d sql:"+legacy+" && chmod 644 "+legacy+"/*.db\n", r.stderr)
}

func TestRunDiscovery(t *testing.T) {
	s := startFake(t, goodP4(t))
	good := advertised(t, s)
	otherRel := good
	otherRel.Instance, otherRel.Sysinfo = good.Instance+" #2", "6.18.44-fc x86_64"
	untrusted := good
	untrusted.Instance, untrusted.Host, untrusted.Certinfo, untrusted.Addrs = "on srvb", "srvb.local", "00:01:02:03:04", []netip.Addr{netip.MustParseAddr("127.0.0.9")}

	t.Run("default spec picks the compatible trusted server", func(t *testing.T) {
		r := runClientWith(t, servicesAt{otherRel, untrusted, good}, "--ssl="+s.CertDir, "-p4", "-e", "probe begin { exit() }")
		require.Equal(t, 0, r.code, r.stderr)
		assert.Equal(t, modName+".ko\n", r.stdout)
	})
	t.Run("host without a port", func(t *testing.T) {
		r := runClientWith(t, servicesAt{untrusted, good}, "--server=srva", "--ssl="+s.CertDir, "-p4", "-e", "probe begin { exit() }")
		require.Equal(t, 0, r.code, r.stderr)
	})
	t.Run("nothing suitable: stap's lines and why", func(t *testing.T) {
		r := runClientWith(t, servicesAt{otherRel, untrusted}, "--ssl="+s.CertDir, "-p4", "-e", "probe begin { exit() }")
		assert.Equal(t, 1, r.code)
		assert.Contains(t, r.stderr, "Unable to find a suitable compile server.  [man stap-server]\nThe following servers are online:\n")
		assert.Contains(t, r.stderr, "No servers matched the selection criteria of online,trusted,compatible.\n")
		assert.Contains(t, r.stderr, "incompatible: it builds for \"6.18.44-fc x86_64\"")
		assert.Contains(t, r.stderr, "untrusted: no trusted certificate has serial 00:01:02:03:04")
		assert.True(t, strings.HasSuffix(r.stderr, "Passes: via server failed.  Try again with another '-v' option.\n"), r.stderr)
	})
	t.Run("--list-servers", func(t *testing.T) {
		r := runClientWith(t, servicesAt{otherRel, untrusted, good}, "--ssl="+s.CertDir, "--list-servers")
		require.Equal(t, 0, r.code, r.stderr)
		assert.Equal(t, "Systemtap Compile Server Status for 'online,trusted,compatible'\n"+good.Candidate(0).String()+"\n", r.stderr)
		assert.Empty(t, r.stdout)
		r = runClientWith(t, servicesAt{otherRel, untrusted, good}, "--ssl="+s.CertDir, "--list-servers=online,bogus")
		require.Equal(t, 0, r.code, r.stderr)
		assert.Equal(t, "WARNING: unsupported compile server property: bogus\nSystemtap Compile Server Status for 'online,bogus'\n"+
			otherRel.Candidate(0).String()+"\n"+untrusted.Candidate(0).String()+"\n"+good.Candidate(0).String()+"\n", r.stderr)
		r = runClientWith(t, servicesAt{otherRel, good}, "--ssl="+s.CertDir, "--list-servers=online", "--json")
		require.Equal(t, 0, r.code, r.stderr)
		assert.Empty(t, r.stderr)
		var doc struct {
			Version int
			Queries []struct {
				Spec    string
				Servers []struct {
					Host, Address, Sysinfo, Certinfo string
					Usable                           bool
					Rejections                       []string
				}
			}
		}
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &doc), r.stdout)
		assert.Equal(t, 1, doc.Version)
		require.Len(t, doc.Queries, 1)
		assert.Equal(t, "online", doc.Queries[0].Spec)
		require.Len(t, doc.Queries[0].Servers, 2)
		assert.False(t, doc.Queries[0].Servers[0].Usable)
		assert.Contains(t, doc.Queries[0].Servers[0].Rejections[0], "incompatible")
		assert.True(t, doc.Queries[0].Servers[1].Usable)
		assert.Equal(t, "srva.local", doc.Queries[0].Servers[1].Host)
		r = runClient(t, "--list-servers=online")
		assert.Equal(t, "Systemtap Compile Server Status for 'online'\nNo servers found\n", r.stderr)
	})
	t.Run("nobody online", func(t *testing.T) {
		r := runClient(t, "-p4", "-e", "probe begin { exit() }")
		assert.Equal(t, 1, r.code)
		assert.Equal(t, "Unable to find a suitable compile server.  [man stap-server]\nNo servers online to select from.\nPasses: via server failed.  Try again with another '-v' option.\n", r.stderr)
	})
}

// brokenNetwork cannot browse at all.
type brokenNetwork struct{}

func (brokenNetwork) Browse(context.Context, chan<- discovery.Service) error {
	return errors.New("listen udp4 0.0.0.0:5353: bind: address already in use")
}

func TestRunDiscoveryTimeoutFlag(t *testing.T) {
	start := time.Now()
	r := runClient(t, "--find-timeout=50ms", "-p2", "-e", "probe begin {}")
	assert.Equal(t, 1, r.code)
	assert.Less(t, time.Since(start), 250*time.Millisecond, "the flag wins over the environment's 300ms")
	r = runClient(t, "--find-timeout=soon", "-p2", "-e", "probe begin {}")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, `discovery timeout "soon" is not a duration`)
}

func TestRunNoMulticast(t *testing.T) {
	r := runClientWith(t, brokenNetwork{}, "-p2", "-e", "probe begin {}")
	assert.Equal(t, 1, r.code)
	assert.Equal(t, "stap-client: WARNING: servers cannot be found on the network: listen udp4 0.0.0.0:5353: bind: address already in use; give --server=HOST:PORT\n"+
		"Unable to find a suitable compile server.  [man stap-server]\nNo servers online to select from.\n"+
		"Passes: via server failed.  Try again with another '-v' option.\n", r.stderr)
}
