// Command stap-client compiles SystemTap scripts on a compile server: a
// drop-in for stap's compile-server client.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/stap-client/stap-client/internal/client"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "unknown"

func main() {
	env, err := client.OSEnv(os.Args[1:], version)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: ERROR: %v\n", client.Prog, err)
		os.Exit(1)
	}
	// An interrupt cancels the run; its deferred clean-up still removes the
	// private temp dir before we exit 1, as stap does for ^C before pass 5.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	code := client.Run(ctx, env)
	stop()
	os.Exit(code)
}
