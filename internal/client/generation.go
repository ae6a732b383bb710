// SPDX-License-Identifier: GPL-2.0-or-later

package client

import (
	"context"

	"github.com/stap-client/stap-client/internal/discovery"
	"github.com/stap-client/stap-client/internal/staprun"
)

// staprunVersion is the local staprun's systemtap version, asked once per
// run (never cached across runs, so an upgrade is seen at once); "" when it
// cannot tell (then no server is judged by generation).
func (r *run) staprunVersion(ctx context.Context) string {
	if r.staprunV == nil {
		path := staprun.DefaultPath
		if r.env.LookupEnv != nil {
			if p, set := r.env.LookupEnv("SYSTEMTAP_STAPRUN"); set {
				path = p
			}
		}
		v, err := staprun.Version(ctx, path)
		if err != nil {
			r.logf(2, "%s: cannot tell the local staprun's version: %v", Prog, err)
		}
		r.staprunV = &v
	}
	return *r.staprunV
}

// reachesPass5 tells whether the run loads the module locally, which is
// when the generations of server and staprun must match.
func (r *run) reachesPass5() bool {
	return r.inv.LastPass > 4 && r.inv.HaveScript
}

// generationMismatch is the line that stops the run before pass 5 when the
// server that built the module is on the other side of systemtap 5.0 than
// the local staprun; "" to go on.
func (r *run) generationMismatch(ctx context.Context, serverVersion string) string {
	return discovery.Mismatch(r.staprunVersion(ctx), serverVersion)
}
