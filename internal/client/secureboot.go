// SPDX-License-Identifier: GPL-2.0-or-later

package client

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/stap-client/stap-client/internal/mok"
)

// signingKeyName is the file a server sends when it has no MOK in common
// with this host, and the name stap saves it under in the cwd.
const signingKeyName = "signing_key.x509"

// secureBoot is stap's step for hosts that load only signed modules: the
// newest stap's rule (last pass 4 or 5, kernel runtime), then the enrolled
// Systemtap MOKs, or "missing", to send. It prints what stap prints.
func (r *run) secureBoot() {
	if r.inv.LastPass < 4 || r.inv.Runtime != "kernel" {
		return
	}
	root := r.env.Root
	if root == nil {
		root = noFiles{} // nothing to read: only the environment decides
	}
	if !mok.SigningRequired(root, r.env.LookupEnv) {
		return
	}
	r.logf(2, "This host requires module signing.")
	r.autoServer = true
	r.autoMsgs = append(r.autoMsgs,
		"The kernel on your system requires modules to be signed for loading.\n"+
			"The module created by compiling your script must be signed by a systemtap compile-server.  [man stap-server]",
		"--use-server was automatically selected in order to request compilation by a compile-server.")
	enrolled, err := mok.ReadEnrolled(root)
	if err != nil {
		r.errf("%s: WARNING: the enrolled machine owner keys cannot be read: %v; going on as if none were enrolled", Prog, err)
	}
	fps := []string{}
	for _, k := range enrolled.Keys {
		r.logf(3, "MOK fingerprint found: %s", k.Fingerprint)
		rest, ok := k.IssuerRest()
		if !ok {
			continue
		}
		r.logf(3, "Issuer found: %s", rest)
		if k.Systemtap() {
			r.logf(3, "Recognized Systemtap MOK fingerprint: %s", k.Fingerprint)
			fps = append(fps, k.Fingerprint)
		}
	}
	r.logf(3, "Number of enrolled Systemtap MOK keys found: %d", len(fps))
	if len(fps) == 0 {
		// None enrolled: any server will do, and it sends its key.
		fps = append(fps, "missing")
	}
	r.moks = fps
}

// saveSigningKey puts the server's MOK in the cwd as signing_key.x509, as
// stap does, but never over a different file of that name: then the key
// goes beside it under a name made from its fingerprint. It returns the
// name saved, "" when saving failed (reported).
func (r *run) saveSigningKey(src string) string {
	dst := filepath.Join(r.env.Cwd, signingKeyName)
	data, err := os.ReadFile(src)
	if err != nil {
		r.errf("%v", err)
		return ""
	}
	if old, err := os.ReadFile(dst); err == nil && string(old) != string(data) {
		sum := sha1.Sum(data)
		dst = filepath.Join(r.env.Cwd, "signing_key-"+hex.EncodeToString(sum[:4])+".x509")
	}
	if err := copyFile(src, dst, filepath.Base(dst)); err != nil {
		r.errf("%v", err)
		return ""
	}
	return filepath.Base(dst)
}

// mokAdvice is our one line after a reply without a signed module because
// the server has no MOK in common with this host.
func (r *run) mokAdvice() {
	if r.signingKey == "" {
		return
	}
	r.ours(fmt.Sprintf("the module could not be signed with a key this host trusts: the server has no MOK in common with it; "+
		"enrol the server's key with 'sudo mokutil --import %s', reboot and confirm it in the MOK manager, then run this command again", r.signingKey), nil)
}

// noFiles is a file system with nothing in it.
type noFiles struct{}

func (noFiles) Open(name string) (fs.File, error) {
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}
