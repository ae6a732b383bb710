// SPDX-License-Identifier: GPL-2.0-or-later

package client

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/internal/discovery"
	"github.com/stap-client/stap-client/internal/testkit"
)

// advertised is how mDNS would show the fake server s: a 4.8 server for
// 6.1.0-56-amd64 x86_64 on srva.local.
func advertised(t *testing.T, s *testkit.FakeServer) discovery.Service {
	t.Helper()
	ap, serial := addrSerial(t, s)
	return discovery.Service{Instance: "Systemtap Compile Server on srva", Host: "srva.local", Port: ap.Port(),
		Addrs: []netip.Addr{ap.Addr()}, Sysinfo: "6.1.0-56-amd64 x86_64", Certinfo: serial, Version: "4.8"}
}

// staprunSaying is a stand-in staprun whose -V answers version on a
// terminal only, as the real one (printf, then _exit), and which records
// its argv otherwise.
func staprunSaying(t *testing.T, version string) (path, dir string) {
	t.Helper()
	dir = t.TempDir()
	path = filepath.Join(dir, "staprun")
	script := "#!/bin/sh\n" +
		"[ \"$1\" = -V ] && { [ -t 1 ] && echo 'Systemtap module loader/runner (version " + version + ", test)'; exit 0; }\n" +
		"printf '%s\\n' \"$@\" > \"$(dirname \"$0\")/argv\"\n"
	require.NoError(t, os.WriteFile(path, []byte(script), 0o755))
	return path, dir
}

// TestDiscoveryPrefersStaprunGeneration: two compatible, trusted servers
// online, 5.1 and 4.8 (the version order alone picks 5.1); with a local
// staprun 4.8 a run that reaches pass 5 uses the 4.8 one, and the JSON
// listing notes the 5.1 one.
func TestDiscoveryPrefersStaprunGeneration(t *testing.T) {
	s := startFake(t, goodP4(t))
	old := advertised(t, s)
	old.Instance, old.Host = "Systemtap Compile Server on old", "old.local"
	modern := old
	modern.Instance, modern.Host, modern.Version = "Systemtap Compile Server on new", "new.local", "5.1"
	staprunPath, rec := staprunSaying(t, "4.8/0.188")
	env := map[string]string{"SYSTEMTAP_STAPRUN": staprunPath}
	browse := func(e *Env) { e.Browser = servicesAt{modern, old} }

	r := runEnv(t, browse, env, "--ssl="+s.CertDir, "-v", "-e", script)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "Passes: via server  host=old.local")
	assert.FileExists(t, filepath.Join(rec, "argv"), "staprun ran")

	// -p4 does not reach pass 5: the version order stands.
	r = runEnv(t, browse, env, "--ssl="+s.CertDir, "-v", "-p4", "-e", script)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "Passes: via server  host=new.local")

	r = runEnv(t, browse, env, "--ssl="+s.CertDir, "--list-servers=online", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var doc struct {
		Queries []struct {
			Servers []struct {
				Host, Generation string
				Usable           bool
			}
		}
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &doc), r.stdout)
	require.Len(t, doc.Queries, 1)
	notes := map[string]string{}
	for _, sv := range doc.Queries[0].Servers {
		notes[sv.Host] = sv.Generation
		assert.True(t, sv.Usable, sv.Host)
	}
	assert.Empty(t, notes["old.local"])
	assert.Contains(t, notes["new.local"], "other generation: its modules (systemtap 5.1) need a staprun 5.0 or later, the local one is 4.8")
}
