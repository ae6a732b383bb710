// SPDX-License-Identifier: GPL-2.0-or-later

package workdir

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/stap-client/stap-client/internal/stapmsg"
)

// SigningKeyName is the file a server sends when it has no MOK in common
// with this host, and the name stap saves it under in the cwd.
const SigningKeyName = "signing_key.x509"

// Save copies a result into dir under name, as stap does, saying so at
// -vvv and printing stap's line on failure.
func Save(out *stapmsg.Printer, src, dir, name string) {
	out.Logf(3, "Copying %s to %s", src, name)
	if err := CopyFile(src, filepath.Join(dir, name), name); err != nil {
		out.Errf("%v", err)
	}
}

// SaveSigningKey puts the server's MOK in dir as signing_key.x509, as stap
// does, but never over a different file of that name: then the key goes
// beside it under a name made from its fingerprint. It returns the name
// saved, "" when saving failed (reported).
func SaveSigningKey(out *stapmsg.Printer, src, dir string) string {
	dst := filepath.Join(dir, SigningKeyName)
	data, err := os.ReadFile(src)
	if err != nil {
		out.Errf("%v", err)
		return ""
	}
	if old, err := os.ReadFile(dst); err == nil && string(old) != string(data) {
		sum := sha1.Sum(data)
		dst = filepath.Join(dir, "signing_key-"+hex.EncodeToString(sum[:4])+".x509")
	}
	if err := CopyFile(src, dst, filepath.Base(dst)); err != nil {
		out.Errf("%v", err)
		return ""
	}
	return filepath.Base(dst)
}

// ServerMOK deals with the key a server sent because it has no MOK in
// common with this host, and returns our one line of advice ("" when the
// key could not be saved: that was reported). Where the host can enrol a
// key (cannotEnrol nil, from host.MOKEnrolment) the key is saved as stap
// saves it and the advice is to enrol it. Where it cannot, nothing is
// saved: a key the user cannot enrol is no use to them, and the server's
// mokutil line does not apply.
func ServerMOK(out *stapmsg.Printer, src, dir string, cannotEnrol error) string {
	const lead = "the module could not be signed with a key this host trusts: the server has no MOK in common with it"
	if cannotEnrol != nil {
		return fmt.Sprintf("%s, and %v; the server's 'mokutil --import' advice does not apply here: "+
			"the module must be signed by a key this kernel already trusts", lead, cannotEnrol)
	}
	saved := SaveSigningKey(out, src, dir)
	if saved == "" {
		return ""
	}
	return fmt.Sprintf("%s; enrol the server's key with 'sudo mokutil --import %s', "+
		"reboot and confirm it in the MOK manager, then run this command again", lead, saved)
}

// CopyFile writes dst through a temp file and a rename, as stap does, so a
// failed copy never leaves a truncated module behind, and a link at dst is
// replaced, its target untouched. Mode 0666 less umask. Messages name dst
// as shown.
func CopyFile(src, dst, shown string) error {
	fail := func(err error) error {
		return fmt.Errorf("Copy failed (\"%s\" to \"%s\"): %s", src, shown, stapmsg.Strerror(err))
	}
	in, err := os.Open(src)
	if err != nil {
		return fail(err)
	}
	defer in.Close()
	out, err := os.CreateTemp(filepath.Dir(dst), filepath.Base(dst)+".*")
	if err != nil {
		return fail(err)
	}
	tmp := out.Name()
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Chmod(0o666 &^ umask())
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// rename(2) itself: os.Rename refuses a directory at dst with
		// EEXIST, where stap reports rename's EISDIR.
		err = syscall.Rename(tmp, dst)
	}
	if err != nil {
		os.Remove(tmp)
		return fail(err)
	}
	return nil
}

// umask reads the process umask; it must be set to be read, so set it back
// at once. A run calls it from its one goroutine.
func umask() os.FileMode {
	m := syscall.Umask(0o022)
	syscall.Umask(m)
	return os.FileMode(m)
}
