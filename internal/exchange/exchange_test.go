// SPDX-License-Identifier: GPL-2.0-or-later

package exchange

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/internal/certdb"
	"github.com/stap-client/stap-client/internal/discovery"
	"github.com/stap-client/stap-client/internal/stapmsg"
	"github.com/stap-client/stap-client/internal/testkit"
	"github.com/stap-client/stap-client/internal/transport"
)

func candidate(t *testing.T, addr string) discovery.Candidate {
	t.Helper()
	ap := netip.MustParseAddrPort(addr)
	return discovery.Candidate{Addr: ap.Addr(), Port: ap.Port()}
}

// TestExchangeTellsEachServersFate: a refused server and one that answers;
// the winner's reply is written, and Heard learns of both, once the race
// is over, in the order things happened.
func TestExchangeTellsEachServersFate(t *testing.T) {
	s := testkit.StartFake(t, testkit.Fake{Handle: testkit.Reply([]byte("reply"))})
	store, err := certdb.LoadCertDir(s.CertDir)
	require.NoError(t, err)
	refused, good := candidate(t, testkit.ClosedPort(t)), candidate(t, s.Addr)
	type fate struct {
		c   discovery.Candidate
		err error
	}
	var fates []fate
	var out bytes.Buffer
	timeouts := transport.DefaultTimeouts
	timeouts.Bound = 30 * time.Second
	zip := filepath.Join(t.TempDir(), "server.zip")
	res := Exchange(context.Background(), Config{
		Out: stapmsg.New(&out, 0), Stores: []certdb.Store{store}, Timeouts: timeouts, MaxReply: 1 << 20,
		Heard: func(c discovery.Candidate, err error) { fates = append(fates, fate{c, err}) },
	}, []byte("request"), []discovery.Candidate{refused, good}, zip)

	require.True(t, res.Won, out.String())
	assert.Equal(t, good, res.Winner)
	assert.NotNil(t, res.Cert, "the certificate it was trusted by")
	assert.FileExists(t, zip)
	require.NotEmpty(t, fates)
	assert.Equal(t, refused, fates[0].c)
	var te *transport.Error
	require.ErrorAs(t, fates[0].err, &te)
	assert.Equal(t, transport.KindConnect, te.Kind)
	last := fates[len(fates)-1]
	assert.Equal(t, good, last.c)
	assert.NoError(t, last.err, "the winner answered")
	data, err := os.ReadFile(zip)
	require.NoError(t, err)
	assert.Equal(t, "reply", string(data))
}
