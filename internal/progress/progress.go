// SPDX-License-Identifier: GPL-2.0-or-later

// Package progress draws one status line on a terminal ("stap-client:
// compiling on HOST:PORT for 12s"), updated in place and erased before
// anything else is written through it.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// The line appears once the wait has lasted Delay, and is redrawn Every:
// short waits stay silent.
const (
	Delay = time.Second
	Every = time.Second
)

// Terminal is a writer that knows whether it is a terminal. Tests inject
// one; an *os.File is asked with an ioctl.
type Terminal interface {
	io.Writer
	IsTerminal() bool
}

// IsTerminal tells whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	switch t := w.(type) {
	case Terminal:
		return t.IsTerminal()
	case *os.File:
		var tio syscall.Termios
		_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, t.Fd(), syscall.TCGETS, uintptr(unsafe.Pointer(&tio)))
		return errno == 0
	}
	return false
}

// Erase is carriage return and "erase to end of line" (ECMA-48 EL).
const Erase = "\r\x1b[K"

// Line draws "PROG: DOING for Ns" on w and erases it before anything else
// is written through it.
type Line struct {
	mu    sync.Mutex
	w     io.Writer
	prog  string
	doing string
	start time.Time
	now   func() time.Time
	shown bool // the line is on the screen
	quit  chan struct{}
	done  chan struct{}
}

// Start draws the line on w after delay, then every every, until Stop.
func Start(w io.Writer, prog, doing string, delay, every time.Duration, now func() time.Time) *Line {
	l := &Line{w: w, prog: prog, doing: doing, start: now(), now: now, quit: make(chan struct{}), done: make(chan struct{})}
	go l.loop(delay, every)
	return l
}

func (l *Line) loop(delay, every time.Duration) {
	defer close(l.done)
	wait := time.NewTimer(delay)
	defer wait.Stop()
	select {
	case <-l.quit:
		return
	case <-wait.C:
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		l.draw()
		select {
		case <-l.quit:
			return
		case <-tick.C:
		}
	}
}

func (l *Line) draw() {
	l.mu.Lock()
	defer l.mu.Unlock()
	secs := int(l.now().Sub(l.start) / time.Second)
	fmt.Fprintf(l.w, "%s%s: %s for %ds", Erase, l.prog, l.doing, secs)
	l.shown = true
}

// Set changes what the line says; a line on the screen shows it at once.
func (l *Line) Set(doing string) {
	l.mu.Lock()
	changed := l.doing != doing
	l.doing = doing
	shown := l.shown
	l.mu.Unlock()
	if changed && shown {
		l.draw()
	}
}

// Write erases the line first; the next tick draws it again below.
func (l *Line) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.clear()
	return l.w.Write(b)
}

func (l *Line) clear() {
	if l.shown {
		io.WriteString(l.w, Erase)
		l.shown = false
	}
}

// Stop ends the line and leaves the terminal as it was before it.
func (l *Line) Stop() {
	close(l.quit)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	l.clear()
}
