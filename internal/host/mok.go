// SPDX-License-Identifier: GPL-2.0-or-later

package host

import (
	"errors"
	"io/fs"

	"github.com/stap-client/stap-client/internal/mok"
	"github.com/stap-client/stap-client/internal/stapmsg"
)

// MOKs tells whether the host loads only signed modules (stap's rule:
// mok.SigningRequired) and, if so, the fingerprints of the enrolled
// Systemtap machine owner keys to send, or "missing" when there are none.
// root is the file system sysfs and efivarfs are read from (nil: nothing
// to read, only the environment decides). It prints stap's -vv/-vvv lines.
func MOKs(root fs.FS, lookupEnv func(string) (string, bool), out *stapmsg.Printer) (required bool, fingerprints []string) {
	if root == nil {
		root = noFiles{}
	}
	if !mok.SigningRequired(root, lookupEnv) {
		return false, nil
	}
	out.Logf(2, "This host requires module signing.")
	enrolled, err := mok.ReadEnrolled(root)
	if err != nil {
		out.OurWarning("the enrolled machine owner keys cannot be read: %v; going on as if none were enrolled", err)
	}
	fps := []string{}
	for _, k := range enrolled.Keys {
		out.Logf(3, "MOK fingerprint found: %s", k.Fingerprint)
		rest, ok := k.IssuerRest()
		if !ok {
			continue
		}
		out.Logf(3, "Issuer found: %s", rest)
		if k.Systemtap() {
			out.Logf(3, "Recognized Systemtap MOK fingerprint: %s", k.Fingerprint)
			fps = append(fps, k.Fingerprint)
		}
	}
	out.Logf(3, "Number of enrolled Systemtap MOK keys found: %d", len(fps))
	if len(fps) == 0 {
		// None enrolled: any server will do, and it sends its key.
		fps = append(fps, "missing")
	}
	return true, fps
}

// noFiles is a file system with nothing in it.
type noFiles struct{}

func (noFiles) Open(name string) (fs.File, error) {
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

// efiPath is where the kernel shows that it booted through EFI.
const efiPath = "sys/firmware/efi"

// ErrNoEFI says why a host cannot enrol a machine owner key.
var ErrNoEFI = errors.New("this host cannot enrol a machine owner key: it did not boot through EFI (no /sys/firmware/efi)")

// MOKEnrolment tells whether a server's MOK could be enrolled on this host:
// mokutil and shim's MOK manager work through EFI variables, so a host
// that booted without EFI (a BIOS boot with module.sig_enforce=1) cannot,
// and its kernel trusts only the keys it was built or booted with. nil
// means it can; root is as for MOKs.
func MOKEnrolment(root fs.FS) error {
	if root == nil {
		root = noFiles{}
	}
	if _, err := fs.Stat(root, efiPath); err != nil {
		return ErrNoEFI
	}
	return nil
}
