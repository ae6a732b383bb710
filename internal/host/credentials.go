// SPDX-License-Identifier: GPL-2.0-or-later

// Package host reads the facts of the machine a run is on: the user's
// privilege credentials, the machine owner keys a Secure Boot host
// enrolled, and the local staprun.
package host

import (
	"os/user"
	"strconv"
	"syscall"
)

// Credentials are the privilege levels a user holds, as stap's
// get_privilege_credentials finds them: root holds all; otherwise
// membership of stapdev (all three), stapsys (stapsys and stapusr) or
// stapusr.
type Credentials struct {
	Stapdev, Stapsys, Stapusr bool
}

// Name is stap's pr_name: the highest level held.
func (c Credentials) Name() string {
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
