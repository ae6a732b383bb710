// SPDX-License-Identifier: GPL-2.0-or-later

package client

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/stap-client/stap-client/internal/cache"
	"github.com/stap-client/stap-client/internal/request"
	"github.com/stap-client/stap-client/internal/response"
	"github.com/stap-client/stap-client/internal/servers"
	"github.com/stap-client/stap-client/internal/stapargs"
	"github.com/stap-client/stap-client/internal/stapmsg"
)

// cacheSlot is where this run's result is kept in the local result cache.
type cacheSlot struct {
	c    *cache.Cache
	key  cache.Key
	read bool // false with --poison-cache: compile again, then store
}

// cacheSlot opens the cache for req, or returns nil when this run does not
// use it: --disable-cache, -k (stap keeps no cache then either, the user
// wants the build tree), or no module to be had (-p1..-p3, dump modes).
func (r *run) cacheSlot(req *request.Request) *cacheSlot {
	inv := r.inv
	if req == nil || inv.DisableCache || inv.KeepTmp || inv.LastPass < 4 || !inv.HaveScript || inv.DumpMode {
		return nil
	}
	c, err := cache.Open(cache.Dir(r.env.LookupEnv), r.env.UID)
	if err != nil {
		r.out.OurWarning("not using the result cache: %v", err)
		return nil
	}
	key, err := cache.KeyOf(req.Zip, r.plan.staprun.Path)
	if err != nil {
		r.out.Logf(1, "%s: WARNING: not using the result cache: %v", Prog, err)
		return nil
	}
	return &cacheSlot{c: c, key: key, read: !inv.PoisonCache}
}

// replay answers the run from the cache: the cached response files are
// copied into the private temp dir and go through the same processing and
// printing as a fresh response, then pass 5. hit is false when there is no
// usable entry; the run then goes to a server.
func (r *run) replay(ctx context.Context, slot *cacheSlot) (code int, hit bool) {
	if slot == nil || !slot.read || !slot.c.Has(slot.key) {
		return 0, false
	}
	var err error
	if r.dir, err = r.makeDir(); err != nil {
		r.out.Errf("%v", err) // stap's words, prefix included
		return 1, true
	}
	serverDir := r.dir.Join("server")
	if err := os.Mkdir(serverDir, 0o700); err != nil {
		return 0, false
	}
	entry, err := slot.c.GetFrom(ctx, slot.key, serverDir, func(b cache.Builder) error { return r.finder.Admit(ctx, b) })
	var res *response.Result
	if err == nil {
		res, err = response.Process(serverDir, r.responseOptions())
	}
	if err == nil && (res.RC != 0 || res.ModulePath == "") {
		err = errors.New("the cached result has no module")
	}
	if err != nil {
		switch {
		case errors.Is(err, servers.ErrNotAdmitted):
			r.out.Logf(1, "%s: %v", Prog, err)
		case !errors.Is(err, cache.ErrMiss):
			r.out.Logf(1, "%s: WARNING: not using the result cache: %v", Prog, err)
		}
		os.RemoveAll(serverDir)
		return 0, false
	}
	r.sessionLines()
	// Printed even at -v0 when stap chose server mode by itself: it tells
	// the mode, and the module did come from a server.
	r.usingServer(false)
	ok := r.link(res) && r.finish(ctx, res)
	if r.inv.PerPassVerbose[3] >= 1 {
		// stap's line for its own cache; the path is the cached module.
		rel, _ := filepath.Rel(serverDir, res.ModulePath)
		r.out.Errf("Pass 4: using cached %s", filepath.Join(entry, rel))
	}
	return r.afterPasses(passes{res: res, ok: ok}), true
}

// remember stores a successful response's files: what response.Process
// and pass 5 read, at their paths in the response.
func (r *run) remember(ctx context.Context, slot *cacheSlot, ps passes) {
	res := ps.res
	if slot == nil || res == nil || res.RC != 0 || res.ModulePath == "" {
		return
	}
	serverDir := r.dir.Join("server")
	var files []cache.File
	add := func(p string) {
		rel, err := filepath.Rel(serverDir, p)
		if p == "" || err != nil || strings.HasPrefix(rel, "..") || !fileExists(p) {
			return
		}
		files = append(files, cache.File{Name: filepath.ToSlash(rel), Src: p})
	}
	for _, n := range []string{"version", "rc", "stdout", "stderr"} {
		add(filepath.Join(serverDir, n))
	}
	add(res.SigningKey)
	add(res.ModulePath)
	add(res.ModulePath + ".sgn")
	if res.UprobesPath != "" {
		add(res.UprobesPath)
		add(res.UprobesPath + ".sgn")
	}
	b := cache.Builder{Addr: netip.AddrPortFrom(ps.from.Winner.Addr, ps.from.Winner.Port), Host: ps.from.Winner.Host, Version: res.ServerVersion}
	b.Cert = ps.from.Cert
	if err := slot.c.Put(ctx, slot.key, b, files); err != nil {
		r.out.Logf(1, "%s: WARNING: the result was not cached: %v", Prog, err)
	}
}

// cleanCache is --clean-cache: evict by the size limit now, and exit as
// stap does after cleaning its own cache.
func cleanCache(ctx context.Context, env Env, inv *stapargs.Invocation, out *stapmsg.Printer) int {
	for _, w := range inv.Warnings {
		out.Errf("%s", w)
	}
	c, err := cache.Open(cache.Dir(env.LookupEnv), env.UID)
	if err != nil {
		out.Ours("cleaning the result cache", err)
		return 1
	}
	removed, err := c.Clean(ctx)
	if out.Verbose > 1 && len(removed) > 0 {
		out.Errf("Cache cleaning successful, removed entries: ")
		for _, e := range removed {
			out.Errf("  %s", e)
		}
	}
	if err != nil {
		out.Ours("cleaning the result cache", err)
		return 1
	}
	return 0
}
