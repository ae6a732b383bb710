// SPDX-License-Identifier: GPL-2.0-or-later

package client

import (
	"context"
	"os"
	"sync"
	"syscall"
)

// interrupts routes the signals stap catches. Before pass 5 the first one
// cancels the run (stap then skips pass 5 and exits 1); during pass 5 each
// goes to the staprun runner, which passes it on as SIGTERM.
type interrupts struct {
	mu     sync.Mutex
	n      int
	cancel context.CancelFunc
	pass5  chan os.Signal // nil until pass 5
}

// watch starts routing sigs; stop ends it. A nil sigs never delivers.
func watch(ctx context.Context, sigs <-chan os.Signal) (context.Context, *interrupts, func()) {
	ctx, cancel := context.WithCancel(ctx)
	in := &interrupts{cancel: cancel}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case s := <-sigs:
				in.deliver(s)
			case <-done:
				return
			}
		}
	}()
	return ctx, in, func() {
		close(done)
		wg.Wait()
		cancel()
	}
}

func (in *interrupts) deliver(s os.Signal) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if s == syscall.SIGPIPE && in.pass5 == nil {
		// Before pass 5 only our own writes raise it, and each of them also
		// fails with EPIPE, which its caller handles: a socket the server
		// reset is that server's failure, not an interrupt (Go delivers
		// both kinds here once SIGPIPE is caught); a reader of our stdout
		// that went away is brokenPipe.
		return
	}
	in.n++
	if in.pass5 == nil {
		in.cancel()
		return
	}
	// The runner takes each at once; a full buffer means it has already
	// been told three times and is gone.
	select {
	case in.pass5 <- s:
	default:
	}
}

// startPass5 sends the next interrupts to pass 5. pending reports one that
// came first: stap then does not start pass 5.
func (in *interrupts) startPass5() (sigs <-chan os.Signal, pending bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.pass5 = make(chan os.Signal, 3)
	return in.pass5, in.n > 0
}

// brokenPipe ends the run as stap's SIGPIPE would: our standard output's
// reader went away (| head).
func (in *interrupts) brokenPipe() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.n++
	in.cancel()
}
