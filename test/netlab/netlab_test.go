// SPDX-License-Identifier: GPL-2.0-or-later

// Package netlab runs stap-client's discovery on a real network: the
// namespaces test/lab/net-up.sh builds, with avahi-daemon and stap-serverd
// on three server hosts and a client host with no daemons.
package netlab

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/test/labenv"
)

var lab labenv.Lab

func TestMain(m *testing.M) {
	os.Exit(labenv.Tier{Name: "netlab (real-network discovery)", EnvVar: "NET_ENV", Start: "builds the network lab (test/lab/net-up.sh)"}.Main(m, &lab))
}

func get(t *testing.T, k string) string { t.Helper(); return lab.Get(t, k) }

// client runs stap-client on the client host, trusting what the lab's
// client database trusts.
func client(t *testing.T, args ...string) labenv.Outcome {
	t.Helper()
	return labenv.Run(t, append([]string{"ip", "netns", "exec", get(t, "NET_CLIENT_NS"), "env", "-i",
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + get(t, "NET_CLIENT_HOME"), "LANG=C.UTF-8", lab.Bin}, args...)...)
}

func TestDiscovery(t *testing.T) {
	rel := get(t, "NET_RELEASE")
	p2 := []string{"-v", "-r", rel, "-p2", "-e", labenv.Hello}
	port := get(t, "NET_PORT")
	cases := []struct {
		name   string
		args   []string
		code   int
		want   []string // substrings of stderr
		within time.Duration
	}{
		{name: "default spec picks the compatible trusted server", args: p2,
			want: []string{"Passes: via server  host=srva.local "}, within: 5 * time.Second},
		{name: "host name without a port", args: append([]string{"--server=srva"}, p2...),
			want: []string{"Passes: via server  host=srva.local "}},
		{name: "mDNS host name without a port", args: append([]string{"--server=srva.local"}, p2...),
			want: []string{"Passes: via server  host=srva.local "}},
		{name: "IP without a port", args: append([]string{"--server=" + get(t, "NET_A_ADDR")}, p2...),
			want: []string{"Passes: via server  host=srva.local address=" + get(t, "NET_A_ADDR") + " port=" + port}},
		{name: "an untrusted server is refused", args: append([]string{"--server=srvb"}, p2...), code: 1,
			want: []string{"not trusted (certificate serial " + get(t, "NET_B_CERTINFO") + ")"}},
		{name: "a server for another release is passed over", args: append([]string{"--server=srvc"}, p2...), code: 1,
			want: []string{"Unable to find a suitable compile server.  [man stap-server]", "The following servers were requested:",
				`incompatible: it builds for "` + get(t, "NET_C_SYSINFO") + `"`}},
		{name: "failover past a refused port and a blackholed address",
			args: append([]string{"--server=" + get(t, "NET_REFUSED"), "--server=" + get(t, "NET_DEAD_ADDR") + ":" + port,
				"--server=" + get(t, "NET_A_ADDR") + ":" + port}, p2...),
			want: []string{"connection refused; check the address and port, and that stap-serverd runs there (it was being tried again) when server",
				"passed over: no connection yet when server", "Passes: via server  host=unknown address=" + get(t, "NET_A_ADDR")}, within: 3 * time.Second},
		{name: "link-local IPv6 with its interface", args: append([]string{"--server=[" + get(t, "NET_A_ADDR6") + "%" + get(t, "NET_IF") + "]:" + port}, p2...),
			want: []string{"Passes: via server  host=unknown address=" + get(t, "NET_A_ADDR6") + "%" + get(t, "NET_IF")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := client(t, tc.args...)
			assert.Equal(t, tc.code, o.Code, o.Stderr)
			for _, w := range tc.want {
				assert.Contains(t, o.Stderr, w)
			}
			if tc.within > 0 {
				assert.Less(t, o.Took, tc.within, "took %v", o.Took)
			}
		})
	}
}

func TestListServers(t *testing.T) {
	o := client(t, "--list-servers", "-r", get(t, "NET_RELEASE"))
	require.Equal(t, 0, o.Code, o.Stderr)
	assert.True(t, strings.HasPrefix(o.Stderr, "Systemtap Compile Server Status for 'online,trusted,compatible'\n"), o.Stderr)
	assert.Contains(t, o.Stderr, " host=srva.local ")
	assert.NotContains(t, o.Stderr, "srvb")
	assert.NotContains(t, o.Stderr, "srvc")
	assert.Empty(t, o.Stdout)
}
