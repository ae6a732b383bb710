// SPDX-License-Identifier: GPL-2.0-or-later

package discovery

import (
	"fmt"
	"slices"

	"github.com/stap-client/stap-client/internal/staprun"
)

// GenerationNote says, for listings, that c builds modules the local
// staprun cannot run; "" when it can or a version is unknown.
func (p Policy) GenerationNote(c Candidate) string {
	if staprun.SameGeneration(p.Staprun, c.Version) {
		return ""
	}
	return fmt.Sprintf("other generation: its modules (systemtap %s) need a staprun %s, the local one is %s; used only when no server of the same generation is, and then the run stops before pass 5",
		c.Version, staprun.GenerationName(c.Version), p.Staprun)
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
		sa, sb := staprun.SameGeneration(p.Staprun, a.Version), staprun.SameGeneration(p.Staprun, b.Version)
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
		if staprun.SameGeneration(p.Staprun, c.Version) {
			return true
		}
	}
	return false
}
