// SPDX-License-Identifier: GPL-2.0-or-later

// Package stapmsg prints messages the way stap does, and ours in our one
// form, for every package of a run: the prefixes, -v levels, -w, glibc's
// error texts and stap's "in Xusr/Ysys/Zreal ms." times.
package stapmsg

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Prog is the name used in our own messages.
const Prog = "stap-client"

// Printer writes a run's messages to its standard error.
type Printer struct {
	w io.Writer
	// Verbose is stap's -v count.
	Verbose int
	// NoWarnings hides stap's WARNING lines (-w).
	NoWarnings bool
}

// New prints to w at verbosity verbose.
func New(w io.Writer, verbose int) *Printer {
	return &Printer{w: w, Verbose: verbose}
}

// Writer is where messages go now.
func (p *Printer) Writer() io.Writer { return p.w }

// Redirect sends messages through w (the progress line) until restore.
func (p *Printer) Redirect(w io.Writer) (restore func()) {
	saved := p.w
	p.w = w
	return func() { p.w = saved }
}

// Errf prints one line as it is.
func (p *Printer) Errf(format string, args ...any) {
	fmt.Fprintf(p.w, format+"\n", args...)
}

// Logf prints a line from -v level on.
func (p *Printer) Logf(level int, format string, args ...any) {
	if p.Verbose >= level {
		p.Errf(format, args...)
	}
}

// Ours prints a failure of stap-client's own: "stap-client: ERROR: what:
// err", or without err, "stap-client: ERROR: what".
func (p *Printer) Ours(what string, err error) {
	if err != nil {
		p.Errf("%s: ERROR: %s: %v", Prog, what, err)
		return
	}
	p.Errf("%s: ERROR: %s", Prog, what)
}

// OurWarning prints a warning of stap-client's own; -w does not hide it.
func (p *Printer) OurWarning(format string, args ...any) {
	p.Errf(Prog+": WARNING: "+format, args...)
}

// Warn prints stap's "WARNING: msg" unless -w hides it.
func (p *Printer) Warn(msg string) {
	if !p.NoWarnings {
		p.Errf("WARNING: %s", msg)
	}
}

// Strerror is glibc's text for the errno under err ("No such file or
// directory"), as stap prints it; Go's texts are the same in lower case.
func Strerror(err error) string {
	var en syscall.Errno
	if errors.As(err, &en) {
		err = en
	} else {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		var le *os.LinkError
		if errors.As(err, &le) {
			err = le.Err
		}
	}
	s := err.Error()
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// clkTck is USER_HZ, which times(2) counts in on Linux.
const clkTck = 100

// Span is the start of a timed step, as stap's TIMESPRINT measures it:
// times(2) for this process and its children, and the wall clock.
type Span struct {
	tms   syscall.Tms
	start time.Time
}

// Start starts a span now.
func Start() Span {
	var s Span
	_, _ = syscall.Times(&s.tms)
	s.start = time.Now()
	return s
}

// String is "in Xusr/Ysys/Zreal ms." from the start until now.
func (s Span) String() string {
	var now syscall.Tms
	_, _ = syscall.Times(&now)
	return TimesPrint(s.tms, now, s.start, time.Now())
}

// TimesPrint is stap's TIMESPRINT between two readings, in whole
// milliseconds truncated as C does.
func TimesPrint(b, a syscall.Tms, start, end time.Time) string {
	usr := (a.Cutime + a.Utime - b.Cutime - b.Utime) * 1000 / clkTck
	sys := (a.Cstime + a.Stime - b.Cstime - b.Stime) * 1000 / clkTck
	wall := (end.Unix()-start.Unix())*1000 + (int64(end.Nanosecond()/1000)-int64(start.Nanosecond()/1000))/1000
	return fmt.Sprintf("in %dusr/%dsys/%dreal ms.", usr, sys, wall)
}

// MemUsage is stap's "using Nvirt/Nres/Nshr/Ndata kb, " from
// /proc/self/statm; "" where that cannot be read.
func MemUsage() string {
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
