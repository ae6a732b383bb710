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
