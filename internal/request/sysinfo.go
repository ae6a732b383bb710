// SPDX-License-Identifier: GPL-2.0-or-later

package request

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Host is the local machine as uname reports it.
type Host struct {
	Release string // uname -r
	Machine string // uname -m, as is
}

// LocalHost reads uname.
func LocalHost() (Host, error) {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return Host{}, fmt.Errorf("uname: %w", err)
	}
	return Host{Release: cstr(u.Release[:]), Machine: cstr(u.Machine[:])}, nil
}

func cstr(b []int8) string {
	s := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		s = append(s, byte(c))
	}
	return string(s)
}

// NormalizeArch maps uname -m to the architecture names stap uses.
func NormalizeArch(m string) string {
	switch {
	case m == "i486" || m == "i586" || m == "i686":
		return "i386"
	case m == "sun4u":
		return "sparc64"
	case strings.HasPrefix(m, "arm") || m == "sa110":
		return "arm"
	case m == "s390x":
		return "s390"
	case m == "aarch64":
		return "arm64"
	case m == "riscv64":
		return "riscv"
	case strings.HasPrefix(m, "ppc"):
		return "powerpc"
	case strings.HasPrefix(m, "mips"):
		return "mips"
	case strings.HasPrefix(m, "sh2") || strings.HasPrefix(m, "sh3") || strings.HasPrefix(m, "sh4"):
		return "sh"
	}
	return m
}

// Target resolves the kernel release and architecture a run is for: -r
// (a release, or a build tree whose release is read), -a, else the host.
func Target(host Host, rFlag, aFlag string) (release, arch string, err error) {
	release = host.Release
	if rFlag != "" {
		release = rFlag
		if strings.HasPrefix(rFlag, "/") {
			release, err = treeRelease(rFlag)
			if err != nil {
				return "", "", err
			}
		}
	}
	arch = NormalizeArch(host.Machine)
	if aFlag != "" {
		arch = aFlag
	}
	return release, arch, nil
}

// treeRelease reads the release of a kernel build tree, as stap does for -r DIR.
func treeRelease(dir string) (string, error) {
	data, err := os.ReadFile(filepath.Join(dir, "include/config/kernel.release"))
	if err != nil {
		return "", fmt.Errorf("reading the kernel release of build tree %s: %w", dir, err)
	}
	return string(bytes.TrimSpace(data)), nil
}
