// SPDX-License-Identifier: GPL-2.0-or-later

package testkit

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// clientPackage is the command the tests build.
const clientPackage = "github.com/stap-client/stap-client/cmd/stap-client"

// BuildClient builds stap-client into dir, static and with -trimpath as
// `make build` does (a VM guest has no libc for it), and returns its path.
func BuildClient(dir string) (string, error) {
	bin := filepath.Join(dir, "stap-client")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, clientPackage)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building stap-client: %w\n%s", err, out)
	}
	return bin, nil
}

// TempClient is $STAP_CLIENT_BIN, or else stap-client built into a
// temporary directory that cleanup removes: for a binary built once per
// test process (in TestMain or under a sync.Once).
func TempClient() (bin string, cleanup func(), err error) {
	if bin = os.Getenv("STAP_CLIENT_BIN"); bin != "" {
		return bin, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "stap-client-bin")
	if err != nil {
		return "", nil, fmt.Errorf("making a directory for stap-client: %w", err)
	}
	if bin, err = BuildClient(dir); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return bin, func() { os.RemoveAll(dir) }, nil
}

// ClientBinary is $STAP_CLIENT_BIN, or else stap-client built into the
// test's temporary directory.
func ClientBinary(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv("STAP_CLIENT_BIN"); bin != "" {
		return bin
	}
	bin, err := BuildClient(t.TempDir())
	require.NoError(t, err)
	return bin
}
