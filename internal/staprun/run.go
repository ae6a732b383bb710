// SPDX-License-Identifier: GPL-2.0-or-later

package staprun

import (
	"errors"
	"fmt"
	"github.com/stap-client/stap-client/internal/stapmsg"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

// Options are how pass 5 runs.
type Options struct {
	// Stdin, Stdout and Stderr are staprun's, and Stderr also pass 5's
	// messages. Files are handed over as they are; other writers are fed
	// by exec's goroutines, which a third interrupt leaves running.
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Dir    string // the invoking cwd (-o and -c are relative to it)
	// Verbose is pass 5's verbosity (Verbose(inv)).
	Verbose int
	// SuppressWarnings is -w: stap's print_warning stays quiet.
	SuppressWarnings bool
	// Signals are the interrupts stap catches (INT, TERM, HUP, ...); each is
	// passed on to staprun as SIGTERM. Nil means none arrive.
	Signals <-chan os.Signal
}

// Outcome is how pass 5 ended.
type Outcome int

const (
	// Succeeded: staprun exited 0, interrupted or not. stap exits 0.
	Succeeded Outcome = iota
	// Failed: the run failed and "Pass 5: run failed." was printed.
	Failed
	// TooManyInterrupts: the third interrupt; stap exits 1 at once
	// without waiting for staprun.
	TooManyInterrupts
)

// maxInterrupts is how many interrupts stap absorbs (sudo relays a
// duplicate of the first); the next one ends stap.
const maxInterrupts = 2

// Run runs argv as stap's pass 5 does and prints what stap prints.
func Run(argv []string, o Options) Outcome {
	errf := func(format string, a ...any) { fmt.Fprintf(o.Stderr, format+"\n", a...) }
	warn := func(format string, a ...any) {
		if !o.SuppressWarnings {
			errf("WARNING: "+format, a...)
		}
	}
	span := stapmsg.Start()
	if o.Verbose > 0 {
		errf("Pass 5: starting run.")
	}

	rc, tooMany := run(argv, o, errf, warn)
	if tooMany {
		errf("Too many interrupts received, exiting.")
		return TooManyInterrupts
	}

	if o.Verbose > 0 {
		errf("Pass 5: run completed %s", span)
	}
	if rc != 0 {
		errf("Pass 5: run failed.  [man error::pass5]")
		return Failed
	}
	return Succeeded
}

// run spawns and waits, passing interrupts on. It returns stap's rc for
// the child (0 or not) and whether a third interrupt ended the wait.
func run(argv []string, o Options, errf, warn func(string, ...any)) (rc int, tooMany bool) {
	if strings.HasPrefix(argv[0], "/") {
		if err := syscall.Access(argv[0], 1 /* X_OK */); err != nil {
			// stap prints this one directly, so -w does not hide it.
			errf("WARNING: %s is not executable (%s)", argv[0], stapmsg.Strerror(err))
		}
	}
	if o.Verbose > 1 {
		errf("Running %s", strings.Join(argv, " "))
	}
	c := exec.Command(argv[0], argv[1:]...)
	if argv[0] == "" {
		c.Err = syscall.ENOENT // exec.Command would name "" differently
	}
	c.Stdin, c.Stdout, c.Stderr, c.Dir = o.Stdin, o.Stdout, o.Stderr, o.Dir
	if err := c.Start(); err != nil {
		if o.Verbose > 1 {
			var en syscall.Errno
			if !errors.As(err, &en) {
				en = syscall.ENOENT
			}
			errf("Spawn error (%d): %s", int(en), stapmsg.Strerror(en))
		}
		return 1, false
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	interrupts := 0
wait:
	for {
		select {
		case <-o.Signals:
			// stap's handler: SIGTERM to the child, then count.
			_ = c.Process.Signal(syscall.SIGTERM)
			interrupts++
			if interrupts > maxInterrupts {
				return 1, true
			}
		case <-done:
			break wait
		}
	}
	ws, _ := c.ProcessState.Sys().(syscall.WaitStatus)
	ret := ws.ExitStatus()
	if ws.Signaled() {
		ret = 128 + int(ws.Signal())
	}
	if o.Verbose > 1 {
		errf("Spawn waitpid result (0x%x): %d", uint32(ws), ret)
	}
	switch {
	case ret > 128:
		warn("%s exited with signal: %d (%s)", argv[0], ret-128, strsignal(ret-128))
	case ret > 0:
		warn("%s exited with status: %d", argv[0], ret)
	}
	return ret, false
}

// strsignal is glibc's text for a signal; Go's differ in case and words.
func strsignal(n int) string {
	names := [...]string{
		1: "Hangup", 2: "Interrupt", 3: "Quit", 4: "Illegal instruction",
		5: "Trace/breakpoint trap", 6: "Aborted", 7: "Bus error",
		8: "Floating point exception", 9: "Killed", 10: "User defined signal 1",
		11: "Segmentation fault", 12: "User defined signal 2", 13: "Broken pipe",
		14: "Alarm clock", 15: "Terminated", 16: "Stack fault", 17: "Child exited",
		18: "Continued", 19: "Stopped (signal)", 20: "Stopped",
		21: "Stopped (tty input)", 22: "Stopped (tty output)",
		23: "Urgent I/O condition", 24: "CPU time limit exceeded",
		25: "File size limit exceeded", 26: "Virtual timer expired",
		27: "Profiling timer expired", 28: "Window changed", 29: "I/O possible",
		30: "Power failure", 31: "Bad system call",
	}
	// glibc's SIGRTMIN: it keeps 32 and 33 for itself.
	const sigrtmin = 34
	switch {
	case n > 0 && n < len(names) && names[n] != "":
		return names[n]
	case n >= sigrtmin && n <= 64:
		return fmt.Sprintf("Real-time signal %d", n-sigrtmin)
	}
	return fmt.Sprintf("Unknown signal %d", n)
}
