// SPDX-License-Identifier: GPL-2.0-or-later

// Command stap-client compiles SystemTap scripts on a compile server: a
// drop-in for stap's compile-server client.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/stap-client/stap-client/internal/client"
)

// version is set at build time with -ldflags "-X main.version=..."; without
// it (go build, go install) buildVersion asks the Go toolchain's record.
var version string

func main() {
	info, ok := debug.ReadBuildInfo()
	env, err := client.OSEnv(os.Args[1:], buildVersion(version, info, ok))
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: ERROR: %v\n", client.Prog, err)
		os.Exit(1)
	}
	// The signals stap catches. Before pass 5 the first one cancels the
	// run, whose clean-up still removes the private temp dir before we exit
	// 1; in pass 5 they are passed on to staprun as SIGTERM, as stap does.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGPIPE, syscall.SIGINT, syscall.SIGTERM, syscall.SIGXFSZ, syscall.SIGXCPU)
	env.Signals = sigs
	code := client.Run(context.Background(), env)
	signal.Stop(sigs)
	os.Exit(code)
}
