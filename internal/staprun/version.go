// SPDX-License-Identifier: GPL-2.0-or-later

package staprun

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// versionLine is staprun -V's first line: "Systemtap module loader/runner
// (version 4.8/0.188, Debian version 4.8-2 (bookworm))".
var versionLine = regexp.MustCompile(`module loader/runner \(version ([0-9]+(?:\.[0-9]+)*)`)

// Version asks the staprun at path for its version ("4.8", "5.1"). It is
// asked every run, so an upgrade is never missed (nothing is cached).
// staprun prints it with printf and leaves with _exit(0), so on a pipe the
// line never leaves stdio's buffer: it gets a pseudo-terminal, where
// stdout is line-buffered.
func Version(ctx context.Context, path string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	master, slave, err := openPTY()
	if err != nil {
		return "", fmt.Errorf("asking %s for its version: %w", path, err)
	}
	defer master.Close()
	cmd := exec.CommandContext(ctx, path, "-V")
	cmd.Stdout, cmd.Stderr = slave, slave
	cmd.Env = []string{"LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	err = cmd.Start()
	slave.Close()
	if err != nil {
		return "", fmt.Errorf("asking %s for its version: %w", path, err)
	}
	var out bytes.Buffer
	done := make(chan struct{})
	go func() {
		// A pty master reads EIO once the last slave is closed.
		io.Copy(&out, io.LimitReader(master, 1<<16))
		close(done)
	}()
	werr := cmd.Wait()
	select {
	case <-done:
	case <-time.After(time.Second):
		master.Close()
		<-done
	}
	if m := versionLine.FindSubmatch(out.Bytes()); m != nil {
		return string(m[1]), nil
	}
	if werr != nil {
		return "", fmt.Errorf("%s -V: %w", path, werr)
	}
	return "", fmt.Errorf("%s -V printed no version", path)
}

// openPTY opens a pseudo-terminal pair with plain system calls (no cgo).
func openPTY() (master, slave *os.File, err error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	var unlock int32
	if err := ioctl(m, syscall.TIOCSPTLCK, unsafe.Pointer(&unlock)); err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("unlocking the pty: %w", err)
	}
	var n uint32
	if err := ioctl(m, syscall.TIOCGPTN, unsafe.Pointer(&n)); err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("naming the pty: %w", err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.FormatUint(uint64(n), 10), os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	return m, s, nil
}

func ioctl(f *os.File, req uintptr, arg unsafe.Pointer) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var errno syscall.Errno
	if cerr := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, req, uintptr(arg))
	}); cerr != nil {
		return cerr
	}
	if errno != 0 {
		return errno
	}
	return nil
}

// Modern tells whether a systemtap version is 5.0 or later: the release
// that renumbered the messages between a module's runtime and staprun, so
// a module and the staprun that runs it must be on the same side of it.
func Modern(version string) bool {
	major, _, _ := strings.Cut(version, ".")
	n, err := strconv.Atoi(major)
	return err == nil && n >= 5
}

// SameGeneration tells whether a module built by a server of version
// server can be run by a staprun of version local. Unknown versions ("")
// are not judged.
func SameGeneration(local, server string) bool {
	if local == "" || server == "" {
		return true
	}
	return Modern(local) == Modern(server)
}

// Mismatch is the one line that stops a run before pass 5 when the module
// came from the other side of 5.0 than the local staprun; "" when they
// match (or a version is unknown).
func Mismatch(local, server string) string {
	if SameGeneration(local, server) {
		return ""
	}
	side := "4.x (before 5.0)"
	if Modern(local) {
		side = "5.0 or later"
	}
	return fmt.Sprintf("the module was built by a systemtap %s server, but the local staprun is %s, which cannot run it (systemtap 5.0 changed the module/staprun transport); use a compile server of systemtap %s, or install a matching systemtap-runtime (-p4 keeps the module)", server, local, side)
}
