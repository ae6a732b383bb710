// SPDX-License-Identifier: GPL-2.0-or-later

// Package staprun is pass 5: the staprun command line stap 4.8 builds for
// a kernel module, and running it as stap does (messages, signals, exit).
package staprun

import (
	"strconv"

	"github.com/stap-client/stap-client/internal/stapargs"
)

// DefaultPath is stap's BINDIR/staprun on Debian.
const DefaultPath = "/usr/bin/staprun"

// Facts are what pass 5 knows besides the command line.
type Facts struct {
	// Staprun is $SYSTEMTAP_STAPRUN when StaprunSet; stap uses even an
	// empty value (getenv ?: default), so set and empty are kept apart.
	Staprun    string
	StaprunSet bool
	// Module is the module file stap hands to staprun:
	// <stap tmpdir>/<name>.ko.
	Module string
	// Uprobes is the uprobes.ko the server built, "" if none.
	Uprobes string
	// MOKFingerprints stop -R: a signed module cannot be renamed.
	MOKFingerprints []string
}

// Verbose is the verbosity of pass 5, which drives both its messages and
// the -v count handed to staprun.
func Verbose(inv *stapargs.Invocation) int { return inv.PerPassVerbose[4] }

// Command is the argv stap 4.8's make_kernel_run_command builds.
func Command(inv *stapargs.Invocation, f Facts) []string {
	argv0 := DefaultPath
	if f.StaprunSet {
		argv0 = f.Staprun
	}
	ro := inv.Run
	cmd := []string{argv0}
	// One -v less: staprun is chattier per level than stap.
	for i := 1; i < Verbose(inv); i++ {
		cmd = append(cmd, "-v")
	}
	if ro.SuppressWarnings {
		cmd = append(cmd, "-w")
	}
	if ro.OutputFile != "" {
		cmd = append(cmd, "-o", ro.OutputFile)
	}
	if ro.Cmd != "" {
		cmd = append(cmd, "-c", ro.Cmd)
	}
	if ro.TargetPID != 0 {
		cmd = append(cmd, "-t", strconv.Itoa(ro.TargetPID))
	}
	if ro.TargetNamespacesPID != 0 {
		cmd = append(cmd, "-N", strconv.Itoa(ro.TargetNamespacesPID))
	}
	if ro.BufferSize != 0 {
		cmd = append(cmd, "-b", strconv.Itoa(ro.BufferSize))
	}
	// stap's -i (read_stdin) is never set in 4.8, so no -i here.
	// With a server the local kernel config is never read, so stap
	// counts on the server: it returns uprobes.ko only when needed.
	if f.Uprobes != "" {
		cmd = append(cmd, "-u"+f.Uprobes)
	}
	if ro.LoadOnly {
		if ro.OutputFile == "" {
			cmd = append(cmd, "-L")
		} else {
			cmd = append(cmd, "-D")
		}
	}
	if !inv.ModuleNameGiven && len(f.MOKFingerprints) == 0 {
		cmd = append(cmd, "-R")
	}
	if ro.SizeOption != "" {
		cmd = append(cmd, "-S", ro.SizeOption)
	}
	switch ro.Color {
	case "always", "never":
		cmd = append(cmd, "-C", ro.Color)
	}
	if ro.Monitor {
		cmd = append(cmd, "-M", strconv.Itoa(ro.MonitorInterval))
	}
	cmd = append(cmd, f.Module)
	return append(cmd, ro.Globals...)
}
