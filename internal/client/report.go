package client

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/stap-client/stap-client/internal/request"
)

// cpuTimes is the start of a timed span, in stap's "usr/sys/real" terms.
type cpuTimes struct {
	wall     time.Time
	usr, sys time.Duration
}

func rusage() (usr, sys time.Duration) {
	var self, kids syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return tv(self.Utime) + tv(kids.Utime), tv(self.Stime) + tv(kids.Stime)
}

func startTimes() cpuTimes {
	u, s := rusage()
	return cpuTimes{wall: time.Now(), usr: u, sys: s}
}

// since formats "in Xusr/Ysys/Zreal ms." as stap does.
func (t cpuTimes) since() string {
	u, s := rusage()
	return fmt.Sprintf("in %dusr/%dsys/%dreal ms.", (u - t.usr).Milliseconds(), (s - t.sys).Milliseconds(), time.Since(t.wall).Milliseconds())
}

// memUsage is stap's "using Nvirt/Nres/Nshr/Ndata kb, " from /proc/self/statm.
func memUsage() string {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(data))
	if len(f) < 6 {
		return ""
	}
	kb := func(i int) int64 {
		n, _ := strconv.ParseInt(f[i], 10, 64)
		return n * int64(os.Getpagesize()) / 1024
	}
	return fmt.Sprintf("using %dvirt/%dres/%dshr/%ddata kb, ", kb(0), kb(1), kb(2), kb(5))
}

func printVersion(w io.Writer, version string) {
	fmt.Fprintf(w, "stap-client %s (compile-server protocol %s, %s)\n", version, request.ProtocolVersion, runtime.Version())
}

func printHelp(w io.Writer) {
	fmt.Fprint(w, `Usage: stap-client [--server=HOST|IP[:PORT]]... [--ssl=DIRNAME]... [stap ARGUMENTS]

Compile a SystemTap script on a compile server (passes 1-4).

stap-client options:
  --server=HOST|IP[:PORT]  use this compile server; repeatable, tried in the
                           order given (--use-server=SPEC is a synonym)
  --ssl=DIRNAME            trust the server certificates in DIRNAME; repeatable,
                           searched in the order given
  -h, --help               show this help
  -V, --version            show stap-client's version

Every other option is stap's, with the same meaning: see stap(1).
`)
}
