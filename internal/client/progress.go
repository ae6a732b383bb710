// SPDX-License-Identifier: GPL-2.0-or-later

package client

import (
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/stap-client/stap-client/internal/discovery"
)

// The progress line appears once a server has been compiling this long, and
// is redrawn this often: short compiles stay silent.
const (
	progressDelay = time.Second
	progressEvery = time.Second
)

// terminal is a writer that knows whether it is a terminal. Tests inject one;
// an *os.File is asked with an ioctl.
type terminal interface {
	io.Writer
	IsTerminal() bool
}

func isTerminal(w io.Writer) bool {
	switch t := w.(type) {
	case terminal:
		return t.IsTerminal()
	case *os.File:
		var tio syscall.Termios
		_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, t.Fd(), syscall.TCGETS, uintptr(unsafe.Pointer(&tio)))
		return errno == 0
	}
	return false
}

// showProgress starts the progress line for the exchange with the servers
// and returns the function that changes what it says ("connecting to
// HOST:PORT", ...) and the one that ends it. Meanwhile the run's stderr
// goes through the line, so messages never mix with it. Nothing is drawn
// unless stderr is a terminal and the run is not quiet (-q): pipes and CI
// logs stay clean.
func (r *run) showProgress(doing string) (set func(string), stop func()) {
	if !isTerminal(r.env.Stderr) || r.inv != nil && slices.Contains(r.inv.ServerArgs, "-q") {
		return func(string) {}, func() {}
	}
	p := startProgress(r.env.Stderr, doing, progressDelay, progressEvery, time.Now)
	saved := r.env.Stderr
	r.env.Stderr = p
	return p.set, func() {
		p.stop()
		r.env.Stderr = saved
	}
}

// serverLabel names a server in a few characters: the name the user gave or
// discovery found, else the address, and the port.
func serverLabel(c discovery.Candidate) string {
	host := c.Host
	if host == "" {
		if !c.Addr.IsValid() {
			return "a server"
		}
		host = c.Addr.String()
	}
	return net.JoinHostPort(host, strconv.Itoa(int(c.Port)))
}

// progress draws "stap-client: compiling on SERVER for Ns" (or what the
// exchange is doing now) on a terminal and erases it before anything else is
// written through it.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	doing string
	start time.Time
	now   func() time.Time
	shown bool // the line is on the screen
	quit  chan struct{}
	done  chan struct{}
}

// erase is carriage return and "erase to end of line" (ECMA-48 EL).
const erase = "\r\x1b[K"

func startProgress(w io.Writer, doing string, delay, every time.Duration, now func() time.Time) *progress {
	p := &progress{w: w, doing: doing, start: now(), now: now, quit: make(chan struct{}), done: make(chan struct{})}
	go p.loop(delay, every)
	return p
}

func (p *progress) loop(delay, every time.Duration) {
	defer close(p.done)
	wait := time.NewTimer(delay)
	defer wait.Stop()
	select {
	case <-p.quit:
		return
	case <-wait.C:
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		p.draw()
		select {
		case <-p.quit:
			return
		case <-tick.C:
		}
	}
}

func (p *progress) draw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	secs := int(p.now().Sub(p.start) / time.Second)
	fmt.Fprintf(p.w, "%s%s: %s for %ds", erase, Prog, p.doing, secs)
	p.shown = true
}

// set changes what the line says; a line on the screen shows it at once.
func (p *progress) set(doing string) {
	p.mu.Lock()
	changed := p.doing != doing
	p.doing = doing
	shown := p.shown
	p.mu.Unlock()
	if changed && shown {
		p.draw()
	}
}

// Write erases the line first; the next tick draws it again below.
func (p *progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	return p.w.Write(b)
}

func (p *progress) clear() {
	if p.shown {
		io.WriteString(p.w, erase)
		p.shown = false
	}
}

// stop ends the line and leaves the terminal as it was before it.
func (p *progress) stop() {
	close(p.quit)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
}
