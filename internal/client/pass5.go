// SPDX-License-Identifier: GPL-2.0-or-later

package client

import (
	"context"
	"path/filepath"
	"strings"

	"github.com/stap-client/stap-client/internal/response"
	"github.com/stap-client/stap-client/internal/staprun"
	"github.com/stap-client/stap-client/internal/workdir"
)

// pass5 runs the module with staprun as stap does. The caller removes the
// private temp dir once it returns, that is after staprun has exited.
func (r *run) pass5(res *response.Result) int {
	// An interrupt before pass 5 ends the run quietly with 1, as stap's
	// assert_no_interrupts does.
	sigs, pending := r.intr.startPass5()
	if pending {
		return 1
	}
	if res == nil || res.ModulePath == "" {
		return 1 // already reported by the response processing
	}
	// The server that built the module must be on the same side of
	// systemtap 5.0 as the local staprun.
	if msg := staprun.Mismatch(r.plan.staprun.Version(context.Background(), r.out), res.ServerVersion); msg != "" {
		r.out.Ours(msg, nil)
		return 1
	}
	// stap hands staprun <tmpdir>/<module>.ko, a link into the unpacked
	// response; staprun resolves it, so the module keeps its server-given
	// file name (staprun names the module after it) and its .sgn is found.
	module := r.dir.Join(res.ModuleName + ".ko")
	if err := workdir.Link(res.ModulePath, module); err != nil {
		r.out.Ours("linking the module into the temporary directory", err)
		return 1
	}
	uprobes := res.UprobesPath
	if rel, err := filepath.Rel(res.BuildDir, uprobes); uprobes != "" && err == nil && !strings.HasPrefix(rel, "..") {
		// Likewise <tmpdir>/uprobes/uprobes.ko for a server's uprobes.
		link := r.dir.Join("uprobes")
		if err := workdir.Link(filepath.Dir(uprobes), link); err != nil {
			r.out.Ours("linking uprobes into the temporary directory", err)
			return 1
		}
		uprobes = filepath.Join(link, filepath.Base(uprobes))
	}
	argv := staprun.Command(r.inv, staprun.Facts{
		Staprun: r.plan.staprun.Path, StaprunSet: r.plan.staprun.Set, Module: module, Uprobes: uprobes,
		MOKFingerprints: r.plan.moks,
	})
	out := staprun.Run(argv, staprun.Options{
		Stdin: r.env.Stdin, Stdout: r.env.Stdout, Stderr: r.out.Writer(), Dir: r.env.Cwd,
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
