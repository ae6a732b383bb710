// SPDX-License-Identifier: GPL-2.0-or-later

package response

import (
	"fmt"
	"github.com/stap-client/stap-client/internal/stapmsg"
	"github.com/stap-client/stap-client/internal/staprun"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Options say what the run expects from the response.
type Options struct {
	LastPass   int
	HaveScript bool
	// ModuleName is the -m name; empty means take the server's.
	ModuleName string
}

// Result is a processed response.
type Result struct {
	ServerVersion string // "1.0" when the server sent none
	RC            int    // the server-side stap's exit status, forced to 1 as stap does
	// StdoutPath and StderrPath are the server's output files, "" when
	// missing; WriteStdout and WriteStderr print them as stap does.
	StdoutPath string
	StderrPath string
	// Messages are lines stap itself prints about the response, in order,
	// before the server's output (e.g. "No module was returned by the server.").
	Messages []string
	// BuildDir is the server's stap?????? directory, "" if none was sent.
	BuildDir     string
	ModuleName   string // without .ko
	ModulePath   string // the .ko in BuildDir, "" if none
	UprobesPath  string // uprobes/uprobes.ko when the server built one
	SigningKey   string // signing_key.x509 path when the server sent one
	BelowVersion bool   // the server's protocol is older than 1.6
}

// ReadError is a response that could not be read as stap would; its text is
// stap's message.
type ReadError struct{ Msg string }

func (e *ReadError) Error() string { return e.Msg }

var buildDirName = regexp.MustCompile(`^stap.{6}$`)

// smallFile bounds what is read into memory from the version and rc files;
// real ones are a few bytes.
const smallFile = 4096

func readSmall(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, smallFile))
}

// Process interprets the unpacked response in dir (the "server" directory).
func Process(dir string, opt Options) (*Result, error) {
	r := &Result{ServerVersion: "1.0"}
	if v, err := readSmall(filepath.Join(dir, "version")); err == nil {
		r.ServerVersion = strings.TrimSpace(string(v))
	}
	r.BelowVersion = staprun.VersionLess(r.ServerVersion, "1.6")
	if r.BelowVersion {
		r.Messages = append(r.Messages,
			"Server protocol version is "+r.ServerVersion,
			"The server does not use localization information passed by the client")
	}

	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading the server response: %w", err)
	}
	var builds []string
	for _, e := range ents {
		if buildDirName.MatchString(e.Name()) {
			builds = append(builds, e.Name())
		}
	}
	if len(builds) > 1 {
		return nil, &ReadError{"Incorrect number of files in server response"}
	}
	if len(builds) == 1 {
		r.BuildDir = filepath.Join(dir, builds[0])
	}

	// A missing stdout or stderr is treated as empty; stap's sed and cat
	// complain about it, which is noise, not meaning. They are streamed
	// when printed, never read whole: a reply may be large.
	if p := filepath.Join(dir, "stdout"); isRegular(p) {
		r.StdoutPath = p
	}
	if p := filepath.Join(dir, "stderr"); isRegular(p) {
		r.StderrPath = p
	}

	rcPath := filepath.Join(dir, "rc")
	rcText, err := readSmall(rcPath)
	if err != nil {
		return nil, &ReadError{fmt.Sprintf("Unable to open file '%s' for reading: %s", rcPath, stapmsg.Strerror(err))}
	}
	rc, err := strconv.Atoi(strings.TrimSpace(string(rcText)))
	if err != nil {
		return nil, &ReadError{fmt.Sprintf("Unable to read the exit status in '%s'", rcPath)}
	}
	r.RC = rc

	if opt.LastPass >= 4 {
		if err := r.findModule(opt); err != nil {
			return nil, err
		}
	}
	if p := filepath.Join(dir, "signing_key.x509"); isRegular(p) {
		r.SigningKey = p
	}
	return r, nil
}

func (r *Result) findModule(opt Options) error {
	var mods []string
	if r.BuildDir != "" {
		ents, err := os.ReadDir(r.BuildDir)
		if err != nil {
			return fmt.Errorf("reading the server response: %w", err)
		}
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".ko") && !strings.HasPrefix(e.Name(), ".") && e.Type().IsRegular() {
				mods = append(mods, e.Name())
			}
		}
	}
	sort.Strings(mods)
	switch {
	case len(mods) > 1:
		r.Messages = append(r.Messages, "Incorrect number of modules in server response")
	case len(mods) == 1:
		r.ModulePath = filepath.Join(r.BuildDir, mods[0])
		r.ModuleName = strings.TrimSuffix(mods[0], ".ko")
		if opt.ModuleName != "" {
			r.ModuleName = opt.ModuleName
		}
		up := filepath.Join(r.BuildDir, "uprobes", "uprobes.ko")
		if r.BelowVersion {
			up = filepath.Join(filepath.Dir(r.BuildDir), "uprobes.ko")
		}
		if isRegular(up) {
			r.UprobesPath = up
		}
	case opt.HaveScript && r.RC == 0:
		r.Messages = append(r.Messages, "No module was returned by the server.")
		r.RC = 1
	}
	return nil
}

func isRegular(p string) bool {
	fi, err := os.Lstat(p)
	return err == nil && fi.Mode().IsRegular()
}

// OnlyVersion tells whether dir holds the reply of a server that does not
// serve the requested kernel release: a version file and nothing else.
func OnlyVersion(dir string) bool {
	ents, err := os.ReadDir(dir)
	return err == nil && len(ents) == 1 && ents[0].Name() == "version"
}
