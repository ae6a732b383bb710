// SPDX-License-Identifier: GPL-2.0-or-later

package servers

import (
	"bytes"
	"context"
	"crypto/x509"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/internal/cache"
	"github.com/stap-client/stap-client/internal/stapmsg"
	"github.com/stap-client/stap-client/internal/testkit"
)

// TestAdmit: a cached result is used only when its builder passes this
// run's trust, and, when the run names its servers, is one of them.
func TestAdmit(t *testing.T) {
	tc := testkit.Cert(t, testkit.CertSpec{})
	cert, err := x509.ParseCertificate(tc.Certificate[0])
	require.NoError(t, err)
	trusting := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(trusting, "stap.cert"), cert.Raw, 0o644))
	home := t.TempDir() // no database of the user's
	b := cache.Builder{Cert: cert, Addr: netip.MustParseAddrPort("192.0.2.7:5555"), Host: "build1", Version: "4.8"}

	tests := []struct {
		name      string
		ssl       []string
		servers   []string
		privilege string
		want      string // "" admitted, else the reason
	}{
		{"trusted through --ssl", []string{trusting}, nil, "stapdev", ""},
		{"that --ssl not given", nil, nil, "stapdev", "its server is no longer trusted"},
		{"named by address", []string{trusting}, []string{"192.0.2.7:5555"}, "stapdev", ""},
		{"named by the name it was reached by", []string{trusting}, []string{"build1:5555"}, "stapdev", ""},
		{"another named server", []string{trusting}, []string{"192.0.2.8:5555"}, "stapdev", "its server is not one of those given with --server"},
		{"another port", []string{trusting}, []string{"192.0.2.7:5556"}, "stapdev", "its server is not one of those given with --server"},
		{"named and discovered servers", []string{trusting}, []string{"192.0.2.8:5555", ""}, "stapdev", ""},
		{"a named server needs no signer", []string{trusting}, []string{"build1:5555"}, "stapusr", ""},
		{"a discovered one must be a signer", []string{trusting}, nil, "stapusr", "its server is not a trusted module signer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			f := &Finder{
				Out: stapmsg.New(&out, 0), UID: os.Geteuid(), SSLDirs: tt.ssl, Privilege: tt.privilege,
				Specs: ParseSpecs(tt.servers),
				LookupEnv: func(k string) (string, bool) {
					return map[string]string{"HOME": home, "SYSTEMTAP_DIR": home}[k], k == "HOME" || k == "SYSTEMTAP_DIR"
				},
			}
			err := f.Admit(context.Background(), b)
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrNotAdmitted)
			assert.Equal(t, "cached result not used: "+tt.want, err.Error())
		})
	}
}
