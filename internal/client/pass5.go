// SPDX-License-Identifier: GPL-2.0-or-later

package client

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/stap-client/stap-client/internal/staprun"
)

// pass5 runs the module with staprun as stap does. The caller removes the
// private temp dir once it returns, that is after staprun has exited.
func (r *run) pass5() int {
	// An interrupt before pass 5 ends the run quietly with 1, as stap's
	// assert_no_interrupts does.
	sigs, pending := r.intr.startPass5()
	if pending {
		return 1
	}
	res := r.res
	if res == nil || res.ModulePath == "" {
		return 1 // already reported by the response processing
	}
	if msg := r.generationMismatch(context.Background(), res.ServerVersion); msg != "" {
		r.ours(msg, nil)
		return 1
	}
	// stap hands staprun <tmpdir>/<module>.ko, a link into the unpacked
	// response; staprun resolves it, so the module keeps its server-given
	// file name (staprun names the module after it) and its .sgn is found.
	module := filepath.Join(r.tmp, res.ModuleName+".ko")
	if err := linkOnce(res.ModulePath, module); err != nil {
		r.ours("linking the module into the temporary directory", err)
		return 1
	}
	uprobes := res.UprobesPath
	if rel, err := filepath.Rel(res.BuildDir, uprobes); uprobes != "" && err == nil && !strings.HasPrefix(rel, "..") {
		// Likewise <tmpdir>/uprobes/uprobes.ko for a server's uprobes.
		link := filepath.Join(r.tmp, "uprobes")
		if err := linkOnce(filepath.Dir(uprobes), link); err != nil {
			r.ours("linking uprobes into the temporary directory", err)
			return 1
		}
		uprobes = filepath.Join(link, filepath.Base(uprobes))
	}
	path, set := "", false
	if r.env.LookupEnv != nil {
		path, set = r.env.LookupEnv("SYSTEMTAP_STAPRUN")
	}
	argv := staprun.Command(r.inv, staprun.Facts{
		Staprun: path, StaprunSet: set, Module: module, Uprobes: uprobes,
		MOKFingerprints: r.moks,
	})
	out := staprun.Run(argv, staprun.Options{
		Stdin: r.env.Stdin, Stdout: r.env.Stdout, Stderr: r.env.Stderr, Dir: r.env.Cwd,
		Verbose: staprun.Verbose(r.inv), SuppressWarnings: r.inv.Run.SuppressWarnings,
		Signals: sigs,
	})
	if out == staprun.Succeeded {
		return 0
	}
	// After a third interrupt stap _exit()s and leaves its temp dir; we
	// still remove ours (the caller's clean-up), which staprun no longer
	// needs once it has loaded the module.
	return 1
}

// linkOnce makes the link unless the response's links (LinkBuildDir)
// made it already.
func linkOnce(target, link string) error {
	if _, err := os.Lstat(link); err == nil {
		return nil
	}
	return os.Symlink(target, link)
}
