// SPDX-License-Identifier: GPL-2.0-or-later

package client

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/stap-client/stap-client/internal/testkit"
)

// A BIOS boot with module.sig_enforce=1 needs signed modules but has no
// EFI variables: a server's key could never be enrolled there. Exit 1, no
// signing_key.x509 left, and our line says so instead of mokutil.
func TestSecureBootNoMOKInCommonWithoutEFI(t *testing.T) {
	s := startFake(t, noMOKReply(t, "DER key"))
	r := runEnv(t, withRoot(hostRoot(t, "", "Y")), nil, "--server="+s.Addr, "--ssl="+s.CertDir, "-e", "probe begin { exit() }")
	assert.Equal(t, 1, r.code)
	assert.Empty(t, testkit.Entries(t, r.cwd), "no key, no module")
	assert.Empty(t, testkit.Entries(t, r.tmp))
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	assert.Equal(t, "stap-client: ERROR: the module could not be signed with a key this host trusts: the server has no MOK in common with it, "+
		"and this host cannot enrol a machine owner key: it did not boot through EFI (no /sys/firmware/efi); "+
		"the server's 'mokutil --import' advice does not apply here: the module must be signed by a key this kernel already trusts", lines[len(lines)-1])
}
