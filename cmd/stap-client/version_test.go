// SPDX-License-Identifier: GPL-2.0-or-later
package main

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBuildVersion(t *testing.T) {
	mod := func(v string) *debug.BuildInfo { return &debug.BuildInfo{Main: debug.Module{Version: v}} }
	tests := []struct {
		name    string
		ldflags string
		info    *debug.BuildInfo
		ok      bool
		want    string
	}{
		{"make sets it", "0.1.0~dev", mod("v9.9.9"), true, "0.1.0~dev"},
		{"go install module@version", "", mod("v0.2.0"), true, "v0.2.0"},
		{"go build in a git checkout", "", mod("v0.0.0-20261128185639-21d01a1abcde+dirty"), true, "v0.0.0-20261128185639-21d01a1abcde+dirty"},
		{"go build without VCS", "", mod("(devel)"), true, "(devel)"},
		{"no build info", "", nil, false, "(devel)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, buildVersion(tt.ldflags, tt.info, tt.ok))
		})
	}
}

// TestPlainGoBuildVersion builds the command as `go build` does without
// make's -ldflags: --version names a version, not "unknown".
func TestPlainGoBuildVersion(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "stap-client")
	// The test's own environment (CGO_ENABLED and all), so that the build
	// cache from compiling this test serves the build.
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	out, err = exec.Command(bin, "--version").Output()
	require.NoError(t, err)
	assert.Regexp(t, regexp.MustCompile(`^stap-client (v\S+|\(devel\))\n`), string(out))
}
