// SPDX-License-Identifier: GPL-2.0-or-later

package client

import (
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/stap-client/stap-client/internal/discovery"
	"github.com/stap-client/stap-client/internal/progress"
)

// showProgress starts the progress line for the exchange with the servers
// and returns the function that changes what it says ("connecting to
// HOST:PORT", ...) and the one that ends it. Meanwhile the run's stderr
// goes through the line, so messages never mix with it. Nothing is drawn
// unless stderr is a terminal and the run is not quiet (-q): pipes and CI
// logs stay clean.
func (r *run) showProgress(doing string) (set func(string), stop func()) {
	if !progress.IsTerminal(r.env.Stderr) || r.inv != nil && slices.Contains(r.inv.ServerArgs, "-q") {
		return func(string) {}, func() {}
	}
	p := progress.Start(r.env.Stderr, Prog, doing, progress.Delay, progress.Every, time.Now)
	saved := r.env.Stderr
	r.env.Stderr = p
	return p.Set, func() {
		p.Stop()
		r.env.Stderr = saved
	}
}

// serverLabel names a server in a few characters: the name the user gave or
// discovery found, else the address, and the port.
func serverLabel(c discovery.Candidate) string {
	host := c.Host
	if host == "" {
		if !c.Addr.IsValid() {
			return "a server"
		}
		host = c.Addr.String()
	}
	return net.JoinHostPort(host, strconv.Itoa(int(c.Port)))
}
