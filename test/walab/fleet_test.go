// SPDX-License-Identifier: GPL-2.0-or-later

package walab

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/test/labenv"
)

// fleetScripts is how many distinct scripts the fleet test compiles.
const fleetScripts = 8

var viaHost = regexp.MustCompile(`Passes: via server  host=(\S+?)\.`)

// fleetRun is one -p4 run on a fresh "machine" (its own HOME, so its own
// result cache and failure memory: the servers' caches are what is seen).
type fleetRun struct {
	server   string // the host that compiled, e.g. srva
	compiled bool   // the server compiled it ("Pass 4: compiled C into")
	cached   bool   // the server had it ("Pass 4: using cached")
}

func fleetClient(t *testing.T, home, script string) fleetRun {
	t.Helper()
	env := []string{"HOME=" + home}
	argv := labenv.InNetns(get(t, "WA_CLIENT_NS"), labenv.Clean(labenv.PathSystem, env,
		lab.Bin, "--find-domains=fleet."+get(t, "WA_DOMAIN"), "--ssl="+filepath.Join(get(t, "WA_STATEDIR"), "certs"),
		"-v", "-r", get(t, "WA_RELEASE"), "-p4", "-e", script)...)
	o := labenv.Exec(t, labenv.Cmd{Argv: argv})
	require.Equal(t, 0, o.Code, "%s", o.Stderr)
	m := viaHost.FindStringSubmatch(o.Stderr)
	require.NotNil(t, m, "%s", o.Stderr)
	return fleetRun{server: m[1], compiled: strings.Contains(o.Stderr, "Pass 4: compiled C into"),
		cached: strings.Contains(o.Stderr, "Pass 4: using cached")}
}

// TestFleet: three real stap-serverd 4.8, each with its own module cache,
// published as equals (fleet.walab.test: one SRV priority and weight).
// Distinct scripts run -p4 from three machines are each compiled once in
// the fleet, spread over the servers; when the server holding the most
// stops answering, a new machine recompiles only that server's scripts,
// every other one is a cache hit on its old server.
func TestFleet(t *testing.T) {
	// New scripts each run: the servers' caches outlive the lab.
	nonce := rand.Text()
	var scripts []string
	for i := range fleetScripts {
		scripts = append(scripts, fmt.Sprintf(`probe begin { printf("fleet %s %d\n"); exit() }`, nonce, i))
	}

	home := func() string {
		h := t.TempDir()
		require.NoError(t, os.Chmod(h, 0o755))
		return h
	}
	owner := map[string]string{} // script -> server
	compiles := 0
	for m := range 3 {
		h := home()
		for _, s := range scripts {
			r := fleetClient(t, h, s)
			if r.compiled {
				compiles++
			}
			if m == 0 {
				owner[s] = r.server
			} else {
				assert.Equal(t, owner[s], r.server, "machine %d: the same script meets the same server", m+1)
				assert.True(t, r.cached, "machine %d: a cache hit on %s", m+1, r.server)
			}
		}
	}
	assert.Equal(t, fleetScripts, compiles, "each script compiled exactly once in the fleet")
	held := map[string][]string{}
	for _, s := range scripts {
		held[owner[s]] = append(held[owner[s]], s)
	}
	t.Logf("scripts per server: %v", counts(held))
	require.Greater(t, len(held), 1, "the scripts spread over more than one server")

	// The server holding the most stops answering (SIGSTOP: its handshakes
	// hang, as a dead or hung host's would); it is resumed afterwards.
	busiest := ""
	for s, l := range held {
		if busiest == "" || len(l) > len(held[busiest]) {
			busiest = s
		}
	}
	pid := serverPID(t, strings.TrimPrefix(busiest, "srv"))
	require.NoError(t, syscall.Kill(pid, syscall.SIGSTOP))
	defer syscall.Kill(pid, syscall.SIGCONT)

	h := home()
	recompiled := 0
	for _, s := range scripts {
		r := fleetClient(t, h, s)
		if owner[s] == busiest {
			assert.NotEqual(t, busiest, r.server)
			assert.True(t, r.compiled, "%s's script moves and is compiled again", busiest)
			recompiled++
			continue
		}
		assert.Equal(t, owner[s], r.server, "a script of another server keeps its server")
		assert.True(t, r.cached, "and its warm cache")
		assert.False(t, r.compiled)
	}
	assert.Equal(t, len(held[busiest]), recompiled)
}

func counts(m map[string][]string) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		out[k] = len(v)
	}
	return out
}

// serverPID is the stap-serverd of lab host h (a, b or c), from the pids
// file wa-up.sh keeps.
func serverPID(t *testing.T, h string) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(get(t, "WA_STATEDIR"), h, "pids"))
	require.NoError(t, err)
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[1] == "stap-serverd" {
			pid, err := strconv.Atoi(f[0])
			require.NoError(t, err)
			return pid
		}
	}
	t.Fatalf("no stap-serverd in %s's pids", h)
	return 0
}
