// SPDX-License-Identifier: GPL-2.0-or-later

package client

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/internal/testkit"
)

// TestFleetOrderIsTheRequests: two equal servers found on the network;
// each request goes to the one its key scores highest, the same one on
// every run (and machine); -v and a listing given the script say the
// order.
func TestFleetOrderIsTheRequests(t *testing.T) {
	a := startFake(t, goodP4(t))
	other := testkit.Cert(t, testkit.CertSpec{Serial: 43}) // servers have serials of their own
	b := testkit.StartFake(t, testkit.Fake{Cert: &other, Handle: testkit.Reply(goodP4(t))})
	sa, sb := advertised(t, a), advertised(t, b)
	sb.Instance, sb.Host = "Systemtap Compile Server on srvb", "srvb.local"
	browse := func(e *Env) { e.Browser = servicesAt{sa, sb} }
	ssl := []string{"--ssl=" + a.CertDir, "--ssl=" + b.CertDir, "--disable-cache"}
	servers := map[string]int{}
	for i := range 12 {
		script := fmt.Sprintf("probe begin { printf(\"%d\") exit() }", i)
		var first string
		for run := range 3 {
			r := runEnv(t, browse, nil, append(ssl, "-v", "-p4", "-e", script)...)
			require.Equal(t, 0, r.code, r.stderr)
			assert.Contains(t, r.stderr, "stap-client: order of equal servers for this request: ")
			host := "srva"
			if len(b.Requests) > 0 {
				host = "srvb"
				<-b.Requests
			} else {
				<-a.Requests
			}
			if run == 0 {
				first = host
				servers[host]++
			}
			assert.Equal(t, first, host, "run %d of %q goes where the first went", run, script)
		}
	}
	t.Logf("scripts per server: %v", servers)
	assert.Len(t, servers, 2, "twelve scripts spread over both (one in 2048 chance of not)")

	r := runEnv(t, browse, nil, append(ssl, "--list-servers=online", "--json", "-p4", "-e", "probe begin { exit() }")...)
	require.Equal(t, 0, r.code, r.stderr)
	var doc struct {
		Queries []struct {
			Servers []struct {
				Host  string
				Score float64
			}
		}
	}
	// The listing first, then the run's own output (the module's name).
	require.NoError(t, json.NewDecoder(strings.NewReader(r.stdout)).Decode(&doc), r.stdout)
	list := doc.Queries[0].Servers
	require.Len(t, list, 2)
	assert.Positive(t, list[1].Score)
	assert.GreaterOrEqual(t, list[0].Score, list[1].Score, "highest score first")
}
