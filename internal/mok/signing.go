// SPDX-License-Identifier: GPL-2.0-or-later

// Package mok is Secure Boot for a compile-server client: whether this host
// loads only signed modules (stap's modules_must_be_signed) and which
// Machine Owner Keys it has enrolled, read from the firmware's MokListRT
// without mokutil, with the fingerprints mokutil prints and stap sends.
package mok

import (
	"bufio"
	"bytes"
	"io/fs"
)

// Where the kernel shows what the rule reads, relative to the root of the
// file system handed in (os.DirFS("/") on a real host).
const (
	SigEnforcePath  = "sys/module/module/parameters/sig_enforce"
	SecurelevelPath = "sys/kernel/security/securelevel"
	LockdownPath    = "sys/kernel/security/lockdown"
)

// SigningRequired is stap's rule for a host that loads only signed modules:
// SYSTEMTAP_SIGN (set, any value) says yes, then SYSTEMTAP_NOSIGN says no,
// then sig_enforce reading Y, securelevel 1, or a lockdown of integrity or
// confidentiality say yes. Unreadable files count as no.
func SigningRequired(root fs.FS, lookupEnv func(string) (string, bool)) bool {
	if lookupEnv != nil {
		if _, ok := lookupEnv("SYSTEMTAP_SIGN"); ok {
			return true
		}
		if _, ok := lookupEnv("SYSTEMTAP_NOSIGN"); ok {
			return false
		}
	}
	if firstWordByte(root, SigEnforcePath) == 'Y' {
		return true
	}
	if firstWordByte(root, SecurelevelPath) == '1' {
		return true
	}
	// The active mode is the bracketed word: "none [integrity] confidentiality".
	data, err := fs.ReadFile(root, LockdownPath)
	if err != nil {
		return false
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Split(bufio.ScanWords)
	for sc.Scan() {
		if w := sc.Text(); w == "[integrity]" || w == "[confidentiality]" {
			return true
		}
	}
	return false
}

// firstWordByte is the first non-space byte of a file, as stap's
// `stream >> char` reads it; 0 when there is none.
func firstWordByte(root fs.FS, name string) byte {
	data, err := fs.ReadFile(root, name)
	if err != nil {
		return 0
	}
	data = bytes.TrimLeft(data, " \t\n\v\f\r")
	if len(data) == 0 {
		return 0
	}
	return data[0]
}
