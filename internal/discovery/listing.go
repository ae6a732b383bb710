// SPDX-License-Identifier: GPL-2.0-or-later

package discovery

import (
	"net"
	"strconv"
	"strings"
)

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

// Label names the server in a few characters: the name the user gave or
// discovery found, else the address, and the port.
func (c Candidate) Label() string {
	host := c.Host
	if host == "" {
		if !c.Addr.IsValid() {
			return "a server"
		}
		host = c.Addr.String()
	}
	return net.JoinHostPort(host, strconv.Itoa(int(c.Port)))
}
