// SPDX-License-Identifier: GPL-2.0-or-later

package request

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Stage lays the request out as stap's client directory: the files it
// writes, and links to the shipped script and -I trees.
func TestStage(t *testing.T) {
	src := t.TempDir()
	script := filepath.Join(src, "s.stp")
	require.NoError(t, os.WriteFile(script, []byte("probe begin {}"), 0o644))
	req, err := Build(Spec{Release: "r", Arch: "x86_64", Script: script, TapsetDirs: []string{src, src}, ServerArgs: []string{"-p2"}})
	require.NoError(t, err)

	dir := filepath.Join(t.TempDir(), "client")
	require.NoError(t, req.Stage(dir))
	var got []string
	require.NoError(t, filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		require.NoError(t, err)
		rel, _ := filepath.Rel(dir, p)
		if fi.Mode()&os.ModeSymlink != 0 {
			target, _ := os.Readlink(p)
			rel += " -> " + target
		}
		if !fi.IsDir() {
			got = append(got, strings.ReplaceAll(rel, strings.TrimPrefix(src, "/"), "SRC"))
		}
		return nil
	}))
	assert.ElementsMatch(t, []string{
		"argv1", "argv2", "argv3", "argv4", "argv5", "argv6", "locale", "sysinfo", "version",
		"script/SRC/s.stp -> /SRC/s.stp", "tapset/SRC -> /SRC",
	}, got)
	data, err := os.ReadFile(filepath.Join(dir, "argv6"))
	require.NoError(t, err)
	assert.Equal(t, "-p2", string(data))
}

// A script given as a pipe is read and sent under the name given.
func TestBuildScriptFromPipe(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err == nil {
			f.WriteString("probe begin {}\n")
			f.Close()
		}
	}()
	req, err := Build(Spec{Release: "r", Arch: "x86_64", Script: fifo})
	require.NoError(t, err)
	name := "script/" + strings.TrimPrefix(fifo, "/")
	assert.Equal(t, name, req.Argv[0])
	assert.Contains(t, entries(t, req.Zip, ""), name+"\n")

	dir := t.TempDir()
	require.NoError(t, req.Stage(dir))
	data, err := os.ReadFile(filepath.Join(dir, name))
	require.NoError(t, err)
	assert.Equal(t, "probe begin {}\n", string(data), "staged as a file, not a link to the pipe")
}
