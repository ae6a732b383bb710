// SPDX-License-Identifier: GPL-2.0-or-later

package stapmsg

import (
	"fmt"
	"io"
)

// Help is stap-client's --help: its own options; stap's are stap's, so the help
// points to stap(1) instead of copying a text that would drift.
func Help(w io.Writer) {
	fmt.Fprint(w, `Usage: stap-client [--server=HOST|IP[:PORT]]... [--ssl=DIRNAME]... [stap ARGUMENTS]

Run a SystemTap script, compiling it (passes 1-4) on a compile server; pass 5
runs the module locally with staprun, as stap --use-server does.

stap-client options:
  --server=HOST|IP[:PORT]  use this compile server; repeatable, tried in the
                           order given; without a port (or without --server)
                           servers are found by mDNS and DNS (_stap._tcp)
  --use-server[=SPEC]      the same as --server (stap's spelling)
  --ssl=DIRNAME            also trust the server certificates in DIRNAME
                           (an NSS database or certificate files); repeatable,
                           searched in the order given, before the defaults
  --list-servers[=PROPS]   list compile servers (all, specified, online,
                           trusted, signer, compatible)
  --json                   with --list-servers: JSON on stdout, with the
                           reasons each server would be passed over
  --find-timeout=DURATION  stop looking for servers on the network after
                           DURATION (default 2s)
  --find-domains=DOMAINS   also look for servers in these DNS domains
                           (comma-separated; besides resolv.conf's search)
  --trust-servers[=SPEC]   add or revoke trust in servers (ssl, signer,
                           all-users, revoke, no-prompt)
  -h, --help               show this help and exit
  -V, --version            show stap-client's version and exit

Every other option is stap's, with the same meaning: see stap(1). Options that
need a local translator (-R, --remote, -i, ...) are refused.

Environment: SYSTEMTAP_DIR (default ~/.systemtap), SYSTEMTAP_STAPRUN,
TMPDIR, STAP_CLIENT_DISCOVERY_TIMEOUT (default 2s),
STAP_CLIENT_DISCOVERY_DOMAINS (as --find-domains), STAP_CLIENT_CONNECT_TIMEOUT
(the longest wait for servers to take the connection; default 10m),
STAP_CLIENT_MAX_REPLY (the most a server's reply may take, received or
unpacked; default 1G).
See stap-client(8) for trust, discovery, files and examples.
`)
}
