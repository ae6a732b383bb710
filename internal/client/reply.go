// SPDX-License-Identifier: GPL-2.0-or-later

package client

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stap-client/stap-client/internal/response"
	"github.com/stap-client/stap-client/internal/transport"
)

// replyBudget is what one server reply may cost: bytes on the wire, bytes
// and entries unpacked (response.LimitsFor). STAP_CLIENT_MAX_REPLY sets it.
func (r *run) replyBudget() (int64, error) {
	v := r.env.getenv(response.MaxReplyEnv)
	if v == "" {
		return response.DefaultMaxReply, nil
	}
	n, err := response.ParseSize(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", response.MaxReplyEnv, err)
	}
	return n, nil
}

// raiseHint says how an honest server that needs more gets it.
func raiseHint(limit int64) string {
	return fmt.Sprintf("if the server is honest and needs more, set %s to a larger size (e.g. %s=%s)",
		response.MaxReplyEnv, response.MaxReplyEnv, response.FormatSize(2*limit))
}

// replyFailure says what went wrong after a server started to reply, or ""
// when te is another failure.
func replyFailure(te *transport.Error) string {
	switch {
	case te.Kind == transport.KindTooLarge:
		return fmt.Sprintf("the reply is larger than the limit of %s; %s", response.FormatSize(te.Limit), raiseHint(te.Limit))
	case !te.Connected || te.Bytes == 0:
		return ""
	case te.Kind == transport.KindReset:
		return fmt.Sprintf("the connection was reset after %d bytes of the reply", te.Bytes)
	case te.Kind == transport.KindTimeout:
		return fmt.Sprintf("the reply stopped after %d bytes: %v", te.Bytes, te.Err)
	}
	return fmt.Sprintf("receiving the reply failed after %d bytes: %v", te.Bytes, te.Err)
}

// gotReply: some server was reached and started to reply, so stap's
// "Unable to connect to a server." would mislead.
func gotReply(fails []failure) bool {
	for _, f := range fails {
		var te *transport.Error
		if errors.As(f.err, &te) && replyFailure(te) != "" {
			return true
		}
	}
	return false
}

// explainUnpack reports a reply that could not be unpacked: stap's line
// where stap has one, then ours.
func (r *run) explainUnpack(err error, winner, zipPath string, over bool, size int64) {
	var le *response.LimitError
	switch {
	case errors.As(err, &le):
		r.errf("%s: ERROR: server%s: %v; %s", Prog, winner, le, raiseHint(r.budget))
	case errors.Is(err, response.ErrEmpty):
		r.errf("Unable to unzip the server response '%s'", zipPath)
		r.ours(noReply(over), nil)
	case errors.Is(err, zip.ErrFormat):
		r.errf("Unable to unzip the server response '%s'", zipPath)
		r.errf("%s: ERROR: server%s: the reply is not a valid zip file (%d bytes, cut short or malformed)", Prog, winner, size)
	default:
		r.errf("Unable to unzip the server response '%s'", zipPath)
		r.ours("the server response was refused", err)
	}
}

// printOutput streams the server's stdout, then its stderr, as stap does.
// An interrupt ends it at once even when a write blocks on a full pipe: the
// copy is left to stop at its next buffer, and the run ends.
func (r *run) printOutput(ctx context.Context, res *response.Result) error {
	done := make(chan error, 1)
	go func() {
		err := res.WriteStdout(ctx, r.env.Stdout)
		if err == nil {
			err = res.WriteStderr(ctx, r.env.Stderr)
		}
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		select {
		case <-done:
		case <-time.After(100 * time.Millisecond):
		}
		return ctx.Err()
	}
}
