// SPDX-License-Identifier: GPL-2.0-or-later

// Package walab runs stap-client's wide-area (unicast DNS-SD) discovery on
// a real routed network: the namespaces test/lab/wa-up.sh builds, with
// nsd serving the zones and stap-serverd 4.8 on three hosts behind a
// router, which no multicast crosses (so mDNS finds nothing).
package walab

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/test/labenv"
)

var lab labenv.Lab

func TestMain(m *testing.M) {
	os.Exit(labenv.Tier{Name: "walab (wide-area discovery)", EnvVar: "WA_ENV", Start: "builds the wide-area lab (test/lab/wa-up.sh)"}.Main(m, &lab))
}

func get(t *testing.T, k string) string { t.Helper(); return lab.Get(t, k) }

// client runs stap-client on the client host (its /etc/resolv.conf is the
// lab's: nameserver nsd, search walab.test), trusting a and b. With
// resolvConf set, that text is bind-mounted over /etc/resolv.conf in a
// private mount namespace instead.
func client(t *testing.T, resolvConf string, extraEnv []string, args ...string) labenv.Outcome {
	t.Helper()
	argv := labenv.InNetns(get(t, "WA_CLIENT_NS"))
	if resolvConf != "" {
		f := filepath.Join(t.TempDir(), "resolv.conf")
		require.NoError(t, os.WriteFile(f, []byte(resolvConf), 0o644))
		argv = append(argv, "unshare", "--mount", "--", "sh", "-c", `mount --bind "$0" /etc/resolv.conf && exec "$@"`, f)
	}
	env := append([]string{"HOME=" + get(t, "WA_CLIENT_HOME")}, extraEnv...)
	return labenv.Run(t, append(argv, labenv.Clean(labenv.PathSystem, env, append([]string{lab.Bin}, args...)...)...)...)
}

func via(t *testing.T, h string) string {
	return "Passes: via server  host=" + get(t, "WA_"+h+"_HOST") + "." + get(t, "WA_DOMAIN") + " address=" + get(t, "WA_"+h+"_ADDR") + " port=" + get(t, "WA_PORT")
}

func TestWideAreaDiscovery(t *testing.T) {
	rel := get(t, "WA_RELEASE")
	p2 := []string{"-v", "-r", rel, "-p2", "-e", labenv.Hello}
	cases := []struct {
		name    string
		args    []string
		env     []string
		code    int
		want    []string // substrings of stderr
		notWant []string
		stdout  string // a suffix of stdout
		within  time.Duration
	}{
		// srvc (site2.walab.test, found by RFC 6763 §11 enumeration) has
		// the best priority but is not trusted; srva (10) beats srvb (20).
		{name: "no --server: the trusted server with the best priority compiles (pass 4)",
			// --disable-cache: the client's result cache in the lab's
			// client home must not answer for the server.
			args: []string{"--disable-cache", "-v", "-r", rel, "-p4", "-e", labenv.Hello}, want: []string{via(t, "A"), "Pass 4: "}, stdout: ".ko\n",
			notWant: []string{"does not match the DNS name"}},
		{name: "a host name without a port: the port from its SRV record", args: append([]string{"--server=srvb." + get(t, "WA_DOMAIN")}, p2...),
			want: []string{via(t, "B")}, within: 5 * time.Second},
		{name: "a name relative to the browse domain", args: append([]string{"--server=srvb"}, p2...), want: []string{via(t, "B")}},
		{name: "failover to the priority-2 server when priority 1 is down",
			args: append([]string{"--find-domains=failover." + get(t, "WA_DOMAIN")}, p2...),
			want: []string{"port=" + fmt.Sprint(mustAtoi(t, get(t, "WA_PORT"))+1), "passed over: cannot connect", "connection refused", via(t, "B")}},
		// The same servers again, within the minute: the one that refused
		// is now tried after the healthy one, and -v says why.
		{name: "the domain list from the environment; the refused server is tried last", args: p2, env: []string{"STAP_CLIENT_DISCOVERY_DOMAINS=failover." + get(t, "WA_DOMAIN")},
			want: []string{"passed over first: refused", via(t, "B")}, notWant: []string{"connection refused"}},
		{name: "a named untrusted server is refused at the handshake", args: append([]string{"--server=srvc"}, p2...), code: 1,
			want: []string{"not trusted (certificate serial " + get(t, "WA_C_CERTINFO") + ")"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := client(t, "", tc.env, tc.args...)
			assert.Equal(t, tc.code, o.Code, o.Stderr)
			for _, w := range tc.want {
				assert.Contains(t, o.Stderr, w)
			}
			assert.True(t, strings.HasSuffix(o.Stdout, tc.stdout), "stdout: %q", o.Stdout)
			for _, w := range tc.notWant {
				assert.NotContains(t, o.Stderr, w)
			}
			if tc.within > 0 {
				assert.Less(t, o.Took, tc.within, "took %v", o.Took)
			}
		})
	}
}

func mustAtoi(t *testing.T, s string) int {
	var n int
	_, err := fmt.Sscan(s, &n)
	require.NoError(t, err)
	return n
}

// With no trusted server, the reasons name the untrusted one.
func TestUntrustedSkippedWithReason(t *testing.T) {
	o := client(t, "", []string{"SYSTEMTAP_DIR=" + t.TempDir()}, "-r", get(t, "WA_RELEASE"), "-p2", "-e", labenv.Hello)
	assert.Equal(t, 1, o.Code, o.Stderr)
	assert.Contains(t, o.Stderr, "No servers matched the selection criteria of online,trusted,compatible")
	assert.Contains(t, o.Stderr, "host=srvc."+get(t, "WA_DOMAIN")+" ")
	assert.Contains(t, o.Stderr, "untrusted: no trusted certificate has serial "+get(t, "WA_C_CERTINFO"))
}

func TestListServersAll(t *testing.T) {
	d := get(t, "WA_DOMAIN")
	o := client(t, "", nil, "--list-servers=all", "-r", get(t, "WA_RELEASE"))
	require.Equal(t, 0, o.Code, o.Stderr)
	assert.True(t, strings.HasPrefix(o.Stderr, "Systemtap Compile Server Status for 'all'\n"), o.Stderr)
	for _, h := range []struct{ k, domain string }{{"A", d}, {"B", d}, {"C", "site2." + d}} {
		assert.Contains(t, o.Stderr, " host="+get(t, "WA_"+h.k+"_HOST")+"."+d+" address="+get(t, "WA_"+h.k+"_ADDR")+" port="+get(t, "WA_PORT")+
			` sysinfo="`+get(t, "WA_RELEASE")+" "+get(t, "WA_ARCH")+`" version=4.8 certinfo="`+get(t, "WA_"+h.k+"_CERTINFO")+`" domain=`+h.domain+"\n")
	}

	o = client(t, "", nil, "--list-servers=all", "--json", "-r", get(t, "WA_RELEASE"))
	require.Equal(t, 0, o.Code, o.Stderr)
	var doc struct {
		Version int
		Queries []struct {
			Servers []struct {
				Host, Source, Domain, Certinfo string
				Priority                       int `json:"srv_priority"`
				Usable                         bool
				Rejections                     []string
			}
		}
	}
	require.NoError(t, json.Unmarshal([]byte(o.Stdout), &doc), o.Stdout)
	assert.Equal(t, 1, doc.Version)
	require.Len(t, doc.Queries, 1)
	got := map[string]string{}
	for _, s := range doc.Queries[0].Servers {
		if s.Source == "" {
			continue // known only from the trust database
		}
		got[s.Host] = fmt.Sprintf("%s %s %d %v %s", s.Source, s.Domain, s.Priority, s.Usable, strings.Join(s.Rejections, "; "))
	}
	assert.Equal(t, map[string]string{
		"srva." + d: "dns " + d + " 10 true ",
		"srvb." + d: "dns " + d + " 20 true ",
		"srvc." + d: "dns site2." + d + " 0 false untrusted: no trusted certificate has serial " + get(t, "WA_C_CERTINFO") +
			" (trust it with --trust-servers=ssl --server=HOST:PORT)",
	}, got)
}

// A resolver that never answers (a blackholed address) costs the
// discovery deadline and no more, whatever resolv.conf's timeout says.
func TestSilentResolverCostsOnlyTheDeadline(t *testing.T) {
	rc := "nameserver " + get(t, "WA_BLACKHOLE") + "\nsearch " + get(t, "WA_DOMAIN") + "\noptions timeout:5 attempts:3\n"
	o := client(t, rc, nil, "--find-timeout=1s", "--list-servers=online", "-r", get(t, "WA_RELEASE"))
	assert.Equal(t, 0, o.Code, o.Stderr)
	assert.Contains(t, o.Stderr, "No servers found")
	assert.Less(t, o.Took, 1800*time.Millisecond, "took %v", o.Took)
	assert.GreaterOrEqual(t, o.Took, time.Second, "the deadline, not an early give-up")

	o = client(t, rc, nil, "--find-timeout=1s", "-r", get(t, "WA_RELEASE"), "-p2", "-e", labenv.Hello)
	assert.Equal(t, 1, o.Code, o.Stderr)
	assert.Contains(t, o.Stderr, "No servers online to select from.")
	assert.Less(t, o.Took, 2500*time.Millisecond, "took %v", o.Took)
}

// contrib/stap-dnssd-records turns a listing of the running servers into
// zone records: those nsd accepts, and equal to the lab's own (SRV, TXT).
func TestZoneRecordsFromTheListing(t *testing.T) {
	d := get(t, "WA_DOMAIN")
	o := client(t, "", nil, "--list-servers=online,trusted", "--json", "-r", get(t, "WA_RELEASE"))
	require.Equal(t, 0, o.Code, o.Stderr)
	cmd := exec.Command("python3", "../../contrib/stap-dnssd-records", "--domain", d, "--ttl", "60")
	cmd.Stdin = strings.NewReader(o.Stdout)
	out, err := cmd.Output()
	require.NoError(t, err)
	records := string(out)
	zone := filepath.Join(t.TempDir(), d+".zone")
	require.NoError(t, os.WriteFile(zone, []byte("$ORIGIN "+d+".\n$TTL 60\n@ IN SOA ns hostmaster 1 3600 600 86400 60\n@ IN NS ns\nns IN A 192.0.2.53\n"+records), 0o644))
	check, err := exec.Command("nsd-checkzone", d, zone).CombinedOutput()
	require.NoError(t, err, "%s\n%s", check, records)

	lab, err := os.ReadFile(filepath.Join(get(t, "WA_ZONES"), d+".zone"))
	require.NoError(t, err)
	for _, h := range []string{"A", "B"} {
		host := get(t, "WA_"+h+"_HOST")
		var srv, txt string
		for _, l := range strings.Split(string(lab), "\n") {
			if strings.Contains(l, `\032`+host+"._stap._tcp IN SRV ") {
				srv = l[strings.Index(l, "SRV "):]
			}
			if strings.Contains(l, `\032`+host+"._stap._tcp IN TXT ") {
				txt = l[strings.Index(l, "TXT "):]
			}
		}
		require.NotEmpty(t, srv)
		assert.Contains(t, records, srv+"."+d+".\n", "SRV of %s (relative to the zone in the lab's file)", host)
		// The lab publishes optinfo= as stap-serverd does; the listing has no optinfo.
		assert.Contains(t, records, strings.TrimSuffix(txt, ` "optinfo="`), "TXT of %s", host)
		assert.Contains(t, records, host+"."+d+". 60 IN A "+get(t, "WA_"+h+"_ADDR")+"\n")
	}
}

// The real stap 4.8 as reference, with avahi-daemon browsing walab.test
// wide-area on the client (as avahi allows): avahi resolves srva and srvb
// (not site2's srvc: avahi does no browse-domain enumeration for services),
// but stap drops every answer whose interface is unspecified, so it knows
// the servers only offline, from its trust database. stap-client finds all
// three online.
func TestRealStapReference(t *testing.T) {
	d := get(t, "WA_DOMAIN")
	inClient := []string{"ip", "netns", "exec", get(t, "WA_CLIENT_NS"), "env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + get(t, "WA_CLIENT_HOME"), "LANG=C.UTF-8", "DBUS_SYSTEM_BUS_ADDRESS=" + get(t, "WA_CLIENT_DBUS")}
	var browse labenv.Outcome
	for range 20 { // avahi may still be asking nsd
		browse = labenv.Run(t, append(inClient, "avahi-browse", "-rpt", "_stap._tcp")...)
		if strings.Count(browse.Stdout, "\n=;") >= 2 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	require.Equal(t, 0, browse.Code, browse.Stderr)
	for _, h := range []string{"A", "B"} {
		assert.Contains(t, browse.Stdout, ";"+d+";"+get(t, "WA_"+h+"_HOST")+"."+d+";"+get(t, "WA_"+h+"_ADDR")+";"+get(t, "WA_PORT")+";")
	}
	assert.NotContains(t, browse.Stdout, get(t, "WA_C_HOST"))

	stap := labenv.Run(t, append(inClient, "stap", "--list-servers=all", "-r", get(t, "WA_RELEASE"))...)
	require.Equal(t, 0, stap.Code, stap.Stderr)
	assert.Contains(t, stap.Stderr, " host="+get(t, "WA_A_HOST")+" address=offline port=unknown")
	assert.NotContains(t, stap.Stderr, get(t, "WA_A_ADDR"))

	ours := client(t, "", nil, "--list-servers=all", "-r", get(t, "WA_RELEASE"))
	require.Equal(t, 0, ours.Code, ours.Stderr)
	for _, h := range []string{"A", "B", "C"} {
		assert.Contains(t, ours.Stderr, " address="+get(t, "WA_"+h+"_ADDR")+" ")
	}
}
