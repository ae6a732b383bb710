// SPDX-License-Identifier: GPL-2.0-or-later

// Package testkit holds the helpers that unit tests and the real-system
// tiers (test/) share: certificates shaped like a compile server's, a fake
// TLS compile server, response zips, pseudo-terminals and the stap-client
// binary built for a test. It is imported by tests only.
package testkit

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// Entries lists the names in dir, sorted (what a run left there).
func Entries(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}
