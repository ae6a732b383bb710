// SPDX-License-Identifier: GPL-2.0-or-later

package client

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/internal/certdb"
	"github.com/stap-client/stap-client/internal/testkit"
)

// dnsZone answers from a table of records (NXDOMAIN for unknown names) and
// remembers what was asked.
type dnsZone struct {
	rrs   []dns.RR
	mu    sync.Mutex
	asked []string
}

func (z *dnsZone) exchange(_ context.Context, m *dns.Msg, _ string) (*dns.Msg, error) {
	q := m.Question[0]
	z.mu.Lock()
	z.asked = append(z.asked, q.Name)
	z.mu.Unlock()
	r := new(dns.Msg)
	r.SetReply(m)
	r.Rcode = dns.RcodeNameError
	for _, rr := range z.rrs {
		if strings.EqualFold(rr.Header().Name, q.Name) {
			r.Rcode = dns.RcodeSuccess
			if rr.Header().Rrtype == q.Qtype {
				r.Answer = append(r.Answer, rr)
			}
		}
	}
	return r, nil
}

// addrSerial: where the fake server listens, and its certificate's serial
// as servers publish it (certinfo).
func addrSerial(t *testing.T, s *testkit.FakeServer) (netip.AddrPort, string) {
	t.Helper()
	ap, err := netip.ParseAddrPort(s.Addr)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(s.Cert.Certificate[0])
	require.NoError(t, err)
	return ap, certdb.Certinfo(cert)
}

// TestRunWideArea: servers published in DNS, found beside (a silent or
// broken) mDNS, chosen by the same rules, then by SRV priority.
func TestRunWideArea(t *testing.T) {
	s := startFake(t, goodP4(t))
	ap, serial := addrSerial(t, s)
	// srvu has the better priority but an unknown certificate; srva is
	// the fake server.
	zone := func(domain string) *dnsZone {
		z := &dnsZone{}
		for _, r := range []string{
			`_stap._tcp.%[1]s. IN PTR Systemtap\032Compile\032Server\032on\032srva._stap._tcp.%[1]s.`,
			`_stap._tcp.%[1]s. IN PTR on\032srvu._stap._tcp.%[1]s.`,
			`Systemtap\032Compile\032Server\032on\032srva._stap._tcp.%[1]s. IN SRV 10 0 %[2]d srva.%[1]s.`,
			`Systemtap\032Compile\032Server\032on\032srva._stap._tcp.%[1]s. IN TXT "sysinfo=6.1.0-56-amd64 x86_64" "certinfo=%[3]s" "version=4.8"`,
			`on\032srvu._stap._tcp.%[1]s. IN SRV 0 0 %[2]d srvu.%[1]s.`,
			`on\032srvu._stap._tcp.%[1]s. IN TXT "sysinfo=6.1.0-56-amd64 x86_64" "certinfo=00:01:02:03:04" "version=4.8"`,
			`srva.%[1]s. IN A ` + ap.Addr().String(),
			`srvu.%[1]s. IN A 127.0.0.9`,
		} {
			rr, err := dns.NewRR(fmt.Sprintf(r, domain, ap.Port(), serial))
			require.NoError(t, err)
			z.rrs = append(z.rrs, rr)
		}
		return z
	}
	resolv := func(text string) string {
		p := filepath.Join(t.TempDir(), "resolv.conf")
		require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
		return p
	}
	run := func(t *testing.T, z *dnsZone, resolvConf string, vars map[string]string, args ...string) result {
		return runEnv(t, func(e *Env) {
			e.Browser = brokenNetwork{} // no multicast: DNS must do
			e.ResolvConf, e.DNSExchange = resolvConf, z.exchange
		}, vars, append([]string{"--ssl=" + s.CertDir}, args...)...)
	}
	hello := []string{"-p4", "-e", "probe begin { exit() }"}

	t.Run("the resolv.conf search domain", func(t *testing.T) {
		r := run(t, zone("lab.example"), resolv("nameserver 192.0.2.53\nsearch lab.example\n"), nil, append([]string{"-v"}, hello...)...)
		require.Equal(t, 0, r.code, r.stderr)
		assert.Contains(t, r.stderr, "Passes: via server  host=srva.lab.example address="+ap.Addr().String())
		assert.NotContains(t, r.stderr, "WARNING: servers cannot be found", "mDNS failing is no failure when DNS finds servers")
	})
	t.Run("find-domains then the environment", func(t *testing.T) {
		r := run(t, zone("other.example"), resolv("nameserver 192.0.2.53\n"), nil, append([]string{"--find-domains=nowhere.example,other.example"}, hello...)...)
		require.Equal(t, 0, r.code, r.stderr)
		z := zone("other.example")
		r = run(t, z, resolv("nameserver 192.0.2.53\n"), map[string]string{DiscoveryDomainsEnv: "other.example"}, hello...)
		require.Equal(t, 0, r.code, r.stderr)
		assert.Contains(t, z.asked, "_stap._tcp.other.example.")
	})
	t.Run("a server name without a port takes its SRV port", func(t *testing.T) {
		r := run(t, zone("lab.example"), "", nil, append([]string{"--server=srva.lab.example"}, hello...)...)
		require.Equal(t, 0, r.code, r.stderr)
	})
	t.Run("nothing to browse gives the mDNS warning", func(t *testing.T) {
		r := run(t, zone("lab.example"), resolv("nameserver 192.0.2.53\n"), nil, hello...)
		assert.Equal(t, 1, r.code)
		assert.Contains(t, r.stderr, "WARNING: servers cannot be found on the network: listen udp4")
	})
	t.Run("listing says where each server was found", func(t *testing.T) {
		rc := resolv("nameserver 192.0.2.53\nsearch lab.example\n")
		r := run(t, zone("lab.example"), rc, nil, "--list-servers=online")
		require.Equal(t, 0, r.code, r.stderr)
		assert.Contains(t, r.stderr, ` host=srvu.lab.example address=127.0.0.9 port=`+fmt.Sprint(ap.Port())+` sysinfo="6.1.0-56-amd64 x86_64" version=4.8 certinfo="00:01:02:03:04" domain=lab.example`+"\n")
		r = run(t, zone("lab.example"), rc, nil, "--list-servers=online", "--json")
		require.Equal(t, 0, r.code, r.stderr)
		var doc struct {
			Queries []struct {
				Servers []struct {
					Host, Source, Domain string
					Priority             int `json:"srv_priority"`
					Usable               bool
				}
			}
		}
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &doc), r.stdout)
		require.Len(t, doc.Queries, 1)
		var got []string
		for _, x := range doc.Queries[0].Servers {
			got = append(got, fmt.Sprintf("%s %s %s %d %v", x.Host, x.Source, x.Domain, x.Priority, x.Usable))
		}
		assert.ElementsMatch(t, []string{"srva.lab.example dns lab.example 10 true", "srvu.lab.example dns lab.example 0 false"}, got)
	})
}
