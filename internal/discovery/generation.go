// SPDX-License-Identifier: GPL-2.0-or-later

package discovery

import (
	"fmt"
	"slices"
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

func generationName(v string) string {
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
		server, local, generationName(local), generationName(server))
}

// GenerationNote says, for listings, that c builds modules the local
// staprun cannot run; "" when it can or a version is unknown.
func (p Policy) GenerationNote(c Candidate) string {
	if SameGeneration(p.Staprun, c.Version) {
		return ""
	}
	return fmt.Sprintf("other generation: its modules (systemtap %s) need a staprun %s, the local one is %s; used only when no server of the same generation is, and then the run stops before pass 5",
		c.Version, generationName(c.Version), p.Staprun)
}

// order sorts candidates that passed the filters: those whose modules the
// local staprun can run first, then by protocol version and SRV priority
// (Order), then equals by rendezvous score for the request's key, or at
// random without one.
func (p Policy) order(cs []Candidate) {
	Order(cs)
	if p.Key != nil {
		p.Rendezvous(cs)
	} else {
		Spread(cs, p.IntN)
	}
	if p.Staprun == "" {
		return
	}
	slices.SortStableFunc(cs, func(a, b Candidate) int {
		sa, sb := SameGeneration(p.Staprun, a.Version), SameGeneration(p.Staprun, b.Version)
		switch {
		case sa && !sb:
			return -1
		case sb && !sa:
			return 1
		}
		return 0
	})
}

// Preferred tells whether use holds a server of the local staprun's
// generation (discovery may stop early only then).
func (p Policy) Preferred(use []Candidate) bool {
	for _, c := range use {
		if SameGeneration(p.Staprun, c.Version) {
			return true
		}
	}
	return false
}
