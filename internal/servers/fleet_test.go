// SPDX-License-Identifier: GPL-2.0-or-later

package servers

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/internal/discovery"
	"github.com/stap-client/stap-client/internal/health"
	"github.com/stap-client/stap-client/internal/stapmsg"
	"github.com/stap-client/stap-client/internal/transport"
)

// TestFleetPassesOverRecentFailures: a server that refused is tried after
// the healthy ones until it answers again; -v says so; failures that say
// nothing of a server's health are not remembered.
func TestFleetPassesOverRecentFailures(t *testing.T) {
	ctx := context.Background()
	var out bytes.Buffer
	f := &Finder{Out: stapmsg.New(&out, 1), Health: health.Open(t.TempDir()), UID: -1,
		LookupEnv: func(string) (string, bool) { return "", false }}
	a := discovery.Candidate{Host: "a", Addr: netip.MustParseAddr("192.0.2.1"), Port: 1, Certinfo: "aa:01"}
	b := discovery.Candidate{Host: "b", Addr: netip.MustParseAddr("192.0.2.2"), Port: 1, Certinfo: "bb:02"}
	p := discovery.Policy{Key: []byte("request")}
	heard := f.Heard(ctx)
	require.NotNil(t, heard)

	tests := []struct {
		name  string
		fate  error // what a was heard to do
		first string
		says  string
	}{
		{"refused", &transport.Error{Kind: transport.KindConnect, Err: syscall.ECONNREFUSED}, "b",
			"stap-client: server" + a.String() + ": passed over first: refused 0 s ago\n"},
		{"answered again", nil, "a", ""},
		{"untrusted is not a health problem", &transport.Error{Kind: transport.KindUntrusted}, "a", ""},
		{"reset before any reply", &transport.Error{Kind: transport.KindReset, Err: errors.New("reset")}, "b", "passed over first: reset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out.Reset()
			heard(a, tt.fate)
			use := f.fleet(ctx, p, []discovery.Candidate{a, b})
			assert.Equal(t, tt.first, use[0].Host)
			assert.Contains(t, out.String(), "stap-client: order of equal servers for this request: ")
			if tt.says != "" {
				assert.Contains(t, out.String(), tt.says)
			} else {
				assert.NotContains(t, out.String(), "passed over first")
			}
		})
	}
}
