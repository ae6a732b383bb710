// SPDX-License-Identifier: GPL-2.0-or-later

package host

import (
	"context"
	"sync"

	"github.com/stap-client/stap-client/internal/stapmsg"
	"github.com/stap-client/stap-client/internal/staprun"
)

// StaprunEnv names the staprun pass 5 runs instead of the default one.
const StaprunEnv = "SYSTEMTAP_STAPRUN"

// Staprun is the local staprun: where it is, and its version, asked at most
// once per run (never kept across runs, so an upgrade is seen at once).
type Staprun struct {
	// Path is $SYSTEMTAP_STAPRUN when Set, else staprun.DefaultPath.
	Path string
	Set  bool

	once    sync.Once
	version string
}

// StaprunOf finds the staprun from the environment.
func StaprunOf(lookupEnv func(string) (string, bool)) *Staprun {
	s := &Staprun{Path: staprun.DefaultPath}
	if lookupEnv != nil {
		if p, ok := lookupEnv(StaprunEnv); ok {
			s.Path, s.Set = p, true
		}
	}
	return s
}

// Version is the staprun's systemtap version; "" when it cannot tell (then
// no server is judged by generation), said at -vv.
func (s *Staprun) Version(ctx context.Context, out *stapmsg.Printer) string {
	s.once.Do(func() {
		v, err := staprun.Version(ctx, s.Path)
		if err != nil {
			out.Logf(2, "%s: cannot tell the local staprun's version: %v", stapmsg.Prog, err)
		}
		s.version = v
	})
	return s.version
}
