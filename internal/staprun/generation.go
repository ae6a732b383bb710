// SPDX-License-Identifier: GPL-2.0-or-later

package staprun

import (
	"fmt"
	"strconv"
	"strings"
)

// systemtap 5.0 renumbered the messages between a module's runtime and
// staprun and added framing: a module built by a server >= 5.0 cannot be
// run by an older staprun, nor the reverse. Servers publish their version
// (TXT version=, the response's version entry); the local staprun says
// its own (staprun.Version).

// Modern tells whether a systemtap version is 5.0 or later.
func Modern(version string) bool {
	major, _, _ := strings.Cut(version, ".")
	n, err := strconv.Atoi(major)
	return err == nil && n >= 5
}

// SameGeneration tells whether a module built by a server of version
// server can be run by a staprun of version local. Unknown versions ("")
// are not judged.
func SameGeneration(local, server string) bool {
	if local == "" || server == "" {
		return true
	}
	return Modern(local) == Modern(server)
}

func GenerationName(v string) string {
	if Modern(v) {
		return "5.0 or later"
	}
	return "older than 5.0"
}

// Mismatch is the one line that stops a run before pass 5 when the module
// comes from the other side of 5.0 than the local staprun; "" when they
// match or a version is unknown.
func Mismatch(local, server string) string {
	if SameGeneration(local, server) {
		return ""
	}
	return fmt.Sprintf("the module was built by a systemtap %s server, which the local staprun %s cannot run (systemtap 5.0 changed the module/staprun transport); use a compile server of systemtap %s, or a local systemtap-runtime %s (-p4 keeps the module)",
		server, local, GenerationName(local), GenerationName(server))
}

// VersionLess compares dotted versions (systemtap's, the protocol's) per
// number; an empty one is lowest and a prefix is smaller than the longer
// version.
func VersionLess(a, b string) bool {
	if a == "" || b == "" {
		return a == "" && b != ""
	}
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, _ := strconv.ParseUint(as[i], 10, 64)
		y, _ := strconv.ParseUint(bs[i], 10, 64)
		if x != y {
			return x < y
		}
	}
	return len(as) < len(bs)
}
