// SPDX-License-Identifier: GPL-2.0-or-later

package client

import (
	"fmt"
	"io"
	"runtime"

	"github.com/stap-client/stap-client/internal/request"
	"github.com/stap-client/stap-client/internal/stapargs"
)

// printVersion says what was built and what it speaks: the protocol version
// is the one each request carries, so users can match it with a server.
func printVersion(w io.Writer, version string) {
	fmt.Fprintf(w, "stap-client %s\n", version)
	fmt.Fprintf(w, "compile-server protocol %s (SystemTap %s client)\n", request.ProtocolVersion, stapargs.Version)
	fmt.Fprintf(w, "built with %s for %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
