// SPDX-License-Identifier: GPL-2.0-or-later

package discovery

import "strings"

// Listing is stap's printout of a server list: one server a line, or "No
// Servers".
func Listing(cands []Candidate) string {
	if len(cands) == 0 {
		return "No Servers"
	}
	lines := make([]string, len(cands))
	for i, c := range cands {
		lines[i] = c.String()
	}
	return strings.Join(lines, "\n")
}
