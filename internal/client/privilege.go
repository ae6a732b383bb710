// SPDX-License-Identifier: GPL-2.0-or-later

package client

import (
	"fmt"
	"os/user"
	"strconv"
	"strings"
	"syscall"

	"github.com/stap-client/stap-client/internal/stapargs"
)

// Credentials are the privilege levels a user holds, as stap's
// get_privilege_credentials finds them: root holds all; otherwise
// membership of stapdev (all three), stapsys (stapsys and stapusr) or
// stapusr.
type Credentials struct {
	Stapdev, Stapsys, Stapusr bool
}

// name is stap's pr_name: the highest level held.
func (c Credentials) name() string {
	switch {
	case c.Stapdev:
		return "stapdev"
	case c.Stapsys:
		return "stapsys"
	case c.Stapusr:
		return "stapusr"
	}
	return "none"
}

// CredentialsOf computes them from the real uid, the effective gid, the
// supplementary groups and a group-name lookup.
func CredentialsOf(uid, egid int, groups []int, lookup func(name string) (gid int, ok bool)) Credentials {
	if uid == 0 {
		return Credentials{true, true, true}
	}
	var c Credentials
	gids := map[string]int{}
	for _, n := range []string{"stapdev", "stapsys", "stapusr"} {
		if g, ok := lookup(n); ok {
			gids[n] = g
		}
	}
	for _, g := range append([]int{egid}, groups...) {
		switch {
		case hasGID(gids, "stapdev", g):
			c = Credentials{true, true, true}
		case hasGID(gids, "stapsys", g):
			c.Stapsys, c.Stapusr = true, true
		case hasGID(gids, "stapusr", g):
			c.Stapusr = true
		}
	}
	return c
}

func hasGID(gids map[string]int, name string, g int) bool {
	v, ok := gids[name]
	return ok && v == g
}

// OSCredentials are the running user's.
func OSCredentials() Credentials {
	groups, err := syscall.Getgroups()
	if err != nil {
		groups = nil // stap goes on with the effective gid alone
	}
	return CredentialsOf(syscall.Getuid(), syscall.Getegid(), groups, func(name string) (int, bool) {
		g, err := user.LookupGroup(name)
		if err != nil {
			return 0, false
		}
		n, err := strconv.Atoi(g.Gid)
		return n, err == nil
	})
}

// adjustPrivilege is stap's check_options step for pass 5: a user without
// stapdev who gave no privilege compiles at the level held (added to the
// server's arguments), and a user with none is told so. It reports false
// when the run must end with exit 1.
func (r *run) adjustPrivilege() bool {
	inv := r.inv
	if inv.LastPass <= 4 || !inv.HaveScript || inv.Runtime != "kernel" {
		return true
	}
	creds := Credentials{true, true, true}
	if r.env.Credentials != nil {
		creds = r.env.Credentials()
	}
	if !inv.PrivilegeSet && !creds.Stapdev {
		switch {
		case creds.Stapsys:
			inv.Privilege = "stapsys"
			inv.ServerArgs = append(inv.ServerArgs, "--privilege=stapsys")
			r.autoMsgs = append(r.autoMsgs, "--privilege=stapsys was automatically selected because you are a member of the groups stapusr and stapsys.  [man stap]")
		case creds.Stapusr:
			inv.Privilege = "stapusr"
			inv.ServerArgs = append(inv.ServerArgs, "--privilege=stapusr")
			r.autoMsgs = append(r.autoMsgs, "--privilege=stapusr was automatically selected because you are a member of the group stapusr.  [man stap]")
		default:
			fmt.Fprint(r.env.Stderr, "You are trying to run systemtap as a normal user.\n"+
				"You should either be root, or be part of the group \"stapusr\" and possibly one of the groups \"stapsys\" or \"stapdev\".  [man stap]\n")
			r.usageHint()
			return false
		}
	}
	if !creds.Stapdev {
		r.autoServer = true
		r.autoMsgs = append(r.autoMsgs,
			fmt.Sprintf("For users with the privilege level %s, the module created by compiling your script must be signed by a trusted systemtap compile-server.  [man stap-server]", creds.name()),
			"--use-server was automatically selected in order to request compilation by a compile-server.")
	}
	if inv.Guru && inv.PrivilegeLevel() != "stapdev" {
		r.errf("You can't specify -g and --privilege=%s together.", inv.PrivilegeLevel())
		r.usageHint()
		return false
	}
	return true
}

// usageHint is stap's two lines after a usage error, pointing to
// stap-client's page rather than stap's.
func (r *run) usageHint() {
	for _, l := range stapargs.UsageHint() {
		r.errf("%s", strings.Replace(l, "[man stap]", "[man stap-client]", 1))
	}
}

// explainAuto is stap's explain_auto_options, printed after passes 1-4
// when they failed or at -v.
func (r *run) explainAuto() {
	for _, m := range r.autoMsgs {
		r.errf("%s", m)
	}
}
