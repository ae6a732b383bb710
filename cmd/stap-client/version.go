// SPDX-License-Identifier: GPL-2.0-or-later
package main

import "runtime/debug"

// buildVersion is the version to report. make sets one with -ldflags; a
// plain `go install module@v1.2.3` or `go build` sets none, so the Go
// toolchain's record is used: the module version (from Go 1.24 a build in
// a git checkout stamps one from the tag or commit), else Go's "(devel)".
func buildVersion(ldflags string, info *debug.BuildInfo, ok bool) string {
	switch {
	case ldflags != "":
		return ldflags
	case ok && info != nil && info.Main.Version != "":
		return info.Main.Version
	}
	return "(devel)"
}
