// SPDX-License-Identifier: GPL-2.0-or-later

package request

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// entries lists a zip as the golden file does. The test's tree lives at
// <tmp>/home/u/proj; the <tmp> part and its own directory entries are cut.
func entries(t *testing.T, data []byte, tmp string) string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	require.NoError(t, err)
	tmpRel := strings.TrimPrefix(tmp, "/")
	var b strings.Builder
	for _, f := range zr.File {
		sub, rest, _ := strings.Cut(f.Name, "/")
		if rest != "" && strings.HasPrefix(tmpRel+"/", rest) {
			continue // an ancestor of <tmp>
		}
		line := strings.Replace(f.Name, sub+"/"+tmpRel+"/", sub+"/", 1)
		if !strings.Contains(f.Name, "/") {
			rc, err := f.Open()
			require.NoError(t, err)
			c, err := io.ReadAll(rc)
			require.NoError(t, err)
			s := strings.Replace(string(c), tmpRel+"/", "", 1)
			line += "\t" + strings.ReplaceAll(s, "\n", `\n`)
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

func golden(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	var b strings.Builder
	for _, l := range strings.SplitAfter(string(data), "\n") {
		if !strings.HasPrefix(l, "#") {
			b.WriteString(l)
		}
	}
	return b.String()
}

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func TestBuildMatchesAppendixA(t *testing.T) {
	want := golden(t, "appendix-a.golden")
	tmp, err := filepath.EvalSymlinks(t.TempDir())
	require.NoError(t, err)
	root := filepath.Join(tmp, "home/u/proj")
	require.NoError(t, os.MkdirAll(filepath.Join(root, "real"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "tapdir"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "real/hello.stp"), []byte("probe begin { printf(\"hello world\\n\"); exit() }\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(root, "tapdir/my.stp"), []byte("function my() { return 1 }\n"), 0o644))
	require.NoError(t, os.Symlink("real/hello.stp", filepath.Join(root, "link.stp")))
	t.Chdir(root)

	req, err := Build(Spec{
		Release: "6.1.0-56-amd64", Arch: "x86_64",
		Script: "link.stp", TapsetDirs: []string{"tapdir"},
		ServerArgs: []string{"-v", "-v", "-v", "-r6.1.0-56-amd64", "-p2"},
		ScriptArgs: []string{"arg one", "two"},
		Cwd:        root,
		LookupEnv:  env(map[string]string{"LANG": "C.UTF-8", "LC_TIME": "POSIX", "HOME": "/x"}),
	})
	require.NoError(t, err)
	assert.Equal(t, want, entries(t, req.Zip, tmp))
	// Per-entry overhead counts against the server's 5000-byte limit: no
	// extra fields, no data descriptors.
	zr, err := zip.NewReader(bytes.NewReader(req.Zip), int64(len(req.Zip)))
	require.NoError(t, err)
	for _, f := range zr.File {
		assert.Empty(t, f.Extra, f.Name)
		assert.Zero(t, f.Flags&0x8, f.Name)
	}
	assert.False(t, req.OverServerDefaults())
}

func TestBuildCases(t *testing.T) {
	root, err := filepath.EvalSymlinks(t.TempDir())
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(root, "s.stp"), []byte("x"), 0o644))
	tests := []struct {
		name  string
		spec  Spec
		argv  []string
		files []string // entries that must be present
		err   string
	}{
		{
			name:  "stdin script with -m -F -x",
			spec:  Spec{Script: "-", Stdin: strings.NewReader("probe begin {}"), ServerArgs: []string{"-mmymod", "-F", "-x1"}},
			argv:  []string{"script/-", "-mmymod", "-F", "-x1"},
			files: []string{"script/-", "locale", "sysinfo", "version"},
		},
		{
			name: "-e with -p4, no script operand",
			spec: Spec{ServerArgs: []string{"-v", "-v", "-r6.1.0-56-amd64", "-p4", "-eprobe begin { printf(\"hi\\n\"); exit() }"}},
			argv: []string{"-v", "-v", "-r6.1.0-56-amd64", "-p4", "-eprobe begin { printf(\"hi\\n\"); exit() }"},
		},
		{
			name: "missing script is named relative to cwd and not shipped",
			spec: Spec{Script: "nosuch.stp"},
			argv: []string{"script" + root + "/nosuch.stp"},
		},
		{
			name: "missing -I dir is named relative to cwd",
			spec: Spec{Script: root + "/s.stp", TapsetDirs: []string{"nodir"}},
			argv: []string{"script" + root + "/s.stp", "-I", "tapset" + root + "/nodir"},
		},
		{
			name: "root refused",
			spec: Spec{Script: "/"},
			err:  "Unable to send / to the server",
		},
		{
			name: "root through dots refused with stap's two lines",
			spec: Spec{Script: root + "/s.stp", TapsetDirs: []string{"/tmp/../"}},
			err:  "/tmp/../ resolves to /\nUnable to send /tmp/../ to the server",
		},
		{
			name:  "mok fingerprints",
			spec:  Spec{MOKFingerprints: []string{"missing"}},
			files: []string{"mok_fingerprints"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.Cwd = root
			tc.spec.Release, tc.spec.Arch = "6.1.0-56-amd64", "x86_64"
			req, err := Build(tc.spec)
			if tc.err != "" {
				require.Error(t, err)
				assert.Equal(t, tc.err, err.Error())
				return
			}
			require.NoError(t, err)
			if tc.argv != nil {
				assert.Equal(t, tc.argv, req.Argv)
			}
			zr, err := zip.NewReader(bytes.NewReader(req.Zip), int64(len(req.Zip)))
			require.NoError(t, err)
			names := map[string]bool{}
			for _, f := range zr.File {
				names[f.Name] = true
			}
			for _, f := range tc.files {
				assert.True(t, names[f], "entry %s missing", f)
			}
		})
	}
}

func TestBuildFollowsLinksAndStopsCycles(t *testing.T) {
	root, err := filepath.EvalSymlinks(t.TempDir())
	require.NoError(t, err)
	tap := filepath.Join(root, "tap")
	require.NoError(t, os.MkdirAll(filepath.Join(tap, "sub"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "outside.stp"), []byte("o"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(tap, ".hidden.stp"), []byte("h"), 0o644))
	require.NoError(t, os.Symlink("../../outside.stp", filepath.Join(tap, "sub/linked.stp")))

	req, err := Build(Spec{TapsetDirs: []string{tap}, Cwd: root})
	require.NoError(t, err)
	zr, err := zip.NewReader(bytes.NewReader(req.Zip), int64(len(req.Zip)))
	require.NoError(t, err)
	got := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		require.NoError(t, err)
		c, _ := io.ReadAll(rc)
		got[f.Name] = string(c)
	}
	base := "tapset" + tap
	assert.Equal(t, "o", got[base+"/sub/linked.stp"], "zip follows links: the content is shipped")
	assert.Equal(t, "h", got[base+"/.hidden.stp"], "dotfiles inside a tree are shipped")

	require.NoError(t, os.Symlink("..", filepath.Join(tap, "sub/up")))
	_, err = Build(Spec{TapsetDirs: []string{tap}, Cwd: root})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cycle")
}

func TestOverServerDefaults(t *testing.T) {
	big := strings.Repeat("x", DefaultServerMaxUncompressed+1)
	req, err := Build(Spec{Script: "-", Stdin: strings.NewReader(big), Release: "r", Arch: "a"})
	require.NoError(t, err)
	assert.True(t, req.OverServerDefaults(), "uncompressed %d", req.Uncompressed)
}

func TestNormalizeArchAndTarget(t *testing.T) {
	for in, want := range map[string]string{
		"i686": "i386", "x86_64": "x86_64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "powerpc",
		"s390x": "s390", "riscv64": "riscv", "mips64": "mips", "sh4": "sh", "sun4u": "sparc64",
	} {
		assert.Equal(t, want, NormalizeArch(in), in)
	}
	h := Host{Release: "6.18.44-fc", Machine: "x86_64"}
	rel, arch, err := Target(h, "", "")
	require.NoError(t, err)
	assert.Equal(t, []string{"6.18.44-fc", "x86_64"}, []string{rel, arch})

	tree := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(tree, "include/config"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(tree, "include/config/kernel.release"), []byte("6.1.0-56-amd64\n"), 0o644))
	rel, arch, err = Target(h, tree, "arm64")
	require.NoError(t, err)
	assert.Equal(t, []string{"6.1.0-56-amd64", "arm64"}, []string{rel, arch})
}
