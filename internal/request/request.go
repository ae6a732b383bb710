// SPDX-License-Identifier: GPL-2.0-or-later

// Package request builds the compile-server request zip exactly as stap 4.8
// lays it out: version, sysinfo, argvN, locale, the script and -I trees
// (docs/wire-protocol.md, section 3).
package request

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// ProtocolVersion is the client protocol version sent in the "version" entry.
// Servers compare it numerically per component, so it must stay dotted digits.
const ProtocolVersion = "4.8"

// The server's default limits (stap-serverd --max-compressed-request and
// --max-request-size); over them it closes the connection without a reply.
const (
	DefaultServerMaxCompressed   = 5000
	DefaultServerMaxUncompressed = 50000
)

// maxInput bounds how much local content one request may read, so a mistaken
// -I / or a huge file fails clearly instead of exhausting memory.
const maxInput = 256 << 20

// localeVars are the variables stap forwards, in the order it writes them.
var localeVars = [...]string{"LANG", "LC_ALL", "LC_COLLATE", "LC_CTYPE", "LC_MESSAGES", "LC_MONETARY", "LC_NUMERIC", "LC_TIME"}

// Spec is everything a request is made from.
type Spec struct {
	Release string // kernel release for sysinfo
	Arch    string // normalized architecture for sysinfo

	// Script is the script operand: a path, "-" for stdin, or "" when the
	// script comes from -e or there is none (dump modes).
	Script     string
	Stdin      io.Reader // read when Script is "-"
	TapsetDirs []string  // -I values in command-line order
	ServerArgs []string  // forwarded options, stap's attached forms, in order
	ScriptArgs []string

	Cwd string // for paths that do not exist (stap sends <cwd>/<path>)
	// Getenv reads the locale variables; nil means none are set.
	LookupEnv func(string) (string, bool)
	// MOKFingerprints, when non-nil, is written as mok_fingerprints.
	MOKFingerprints []string
}

// Request is a built request.
type Request struct {
	Zip          []byte   // the bytes sent after the length header
	Uncompressed int64    // total size of file contents, as `unzip -Zt` counts
	Argv         []string // argv1..argvN, for logs and tests
	// staging is the request as stap lays it out in its client directory.
	staging []staged
}

// staged is one file of stap's client directory: written data, or a
// symbolic link to a shipped script or -I tree.
type staged struct {
	name, link string
	data       []byte
}

// OverServerDefaults reports whether the request exceeds the server's default
// limits, in which case a stock server drops it without replying.
func (r *Request) OverServerDefaults() bool {
	return len(r.Zip) > DefaultServerMaxCompressed || r.Uncompressed > DefaultServerMaxUncompressed
}

// entry is one file of the staging tree; dirs are derived from paths.
type entry struct {
	name string
	data []byte
}

type builder struct {
	files   []entry
	total   int64
	argv    []string
	staging []staged
}

// own adds a file the client writes itself (not part of a shipped tree).
func (b *builder) own(name string, data []byte) error {
	b.staging = append(b.staging, staged{name: name, data: data})
	return b.add(name, data)
}

func (b *builder) add(name string, data []byte) error {
	b.total += int64(len(data))
	if b.total > maxInput {
		return fmt.Errorf("request content exceeds %d MiB", maxInput>>20)
	}
	b.files = append(b.files, entry{name: name, data: data})
	return nil
}

func (b *builder) arg(a string) { b.argv = append(b.argv, a) }

// Build makes the request zip for spec.
func Build(spec Spec) (*Request, error) {
	b := &builder{}
	if err := b.own("version", []byte(ProtocolVersion)); err != nil {
		return nil, err
	}
	switch spec.Script {
	case "":
	case "-":
		if spec.Stdin == nil {
			return nil, errors.New("reading the script from standard input: no input")
		}
		data, err := io.ReadAll(io.LimitReader(spec.Stdin, maxInput+1))
		if err != nil {
			return nil, fmt.Errorf("reading the script from standard input: %w", err)
		}
		if err := b.own("script/-", data); err != nil {
			return nil, err
		}
		b.arg("script/-")
	default:
		name, err := b.script(spec.Script, spec.Cwd)
		if err != nil {
			return nil, err
		}
		b.arg(name)
	}
	for _, dir := range spec.TapsetDirs {
		b.arg("-I")
		name, err := b.include("tapset", dir, spec.Cwd)
		if err != nil {
			return nil, err
		}
		b.arg(name)
	}
	for _, a := range spec.ServerArgs {
		b.arg(a)
	}
	if len(spec.ScriptArgs) > 0 {
		b.arg("--")
		for _, a := range spec.ScriptArgs {
			b.arg(a)
		}
	}
	for i, a := range b.argv {
		if err := b.own("argv"+strconv.Itoa(i+1), []byte(a)); err != nil {
			return nil, err
		}
	}
	if err := b.own("sysinfo", []byte("sysinfo: "+spec.Release+" "+spec.Arch)); err != nil {
		return nil, err
	}
	if err := b.own("locale", []byte(localeLines(spec.LookupEnv))); err != nil {
		return nil, err
	}
	if spec.MOKFingerprints != nil {
		var s strings.Builder
		for _, fp := range spec.MOKFingerprints {
			s.WriteString(fp + "\n")
		}
		if err := b.own("mok_fingerprints", []byte(s.String())); err != nil {
			return nil, err
		}
	}
	data, err := b.zip()
	if err != nil {
		return nil, err
	}
	return &Request{Zip: data, Uncompressed: b.total, Argv: b.argv, staging: b.staging}, nil
}

func localeLines(lookup func(string) (string, bool)) string {
	if lookup == nil {
		return ""
	}
	var s strings.Builder
	for _, v := range localeVars {
		if val, ok := lookup(v); ok {
			s.WriteString(v + "=" + val + "\n")
		}
	}
	return s.String()
}

// RootError is returned for a script or -I path that resolves to "/"; its
// text is stap's.
type RootError struct{ Path, Resolved string }

func (e *RootError) Error() string {
	if e.Path != e.Resolved {
		return fmt.Sprintf("%s resolves to %s\nUnable to send %s to the server", e.Path, e.Resolved, e.Path)
	}
	return fmt.Sprintf("Unable to send %s to the server", e.Path)
}

// include ships path (a file or a tree, links followed) under subdir by its
// canonical name and returns the argv naming it. A path that does not exist
// ships nothing and is named relative to cwd, as stap does, so the server
// reports it.
func (b *builder) include(subdir, path, cwd string) (string, error) {
	real, err := canonical(path)
	if err != nil {
		abs := path
		if !filepath.IsAbs(path) {
			abs = cwd + "/" + path
		}
		return subdir + "/" + strings.TrimPrefix(abs, "/"), nil
	}
	if real == "/" {
		return "", &RootError{Path: path, Resolved: real}
	}
	name := subdir + "/" + strings.TrimPrefix(real, "/")
	if err := b.walk(real, name, nil); err != nil {
		return "", err
	}
	b.staging = append(b.staging, staged{name: name, link: real})
	return name, nil
}

// script ships the script file. A pipe or device (bash's <(...), /dev/fd/N,
// /dev/stdin) is read once and sent under the name given, made absolute:
// its canonical name ("pipe:[N]") is no path, and stap sends a broken one.
func (b *builder) script(path, cwd string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().IsRegular() || fi.IsDir() {
		return b.include("script", path, cwd)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("reading the script %s: %w", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxInput+1))
	if err != nil {
		return "", fmt.Errorf("reading the script %s: %w", path, err)
	}
	abs := path
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(cwd, abs)
	}
	name := "script/" + strings.TrimPrefix(filepath.Clean(abs), "/")
	if err := b.own(name, data); err != nil {
		return "", err
	}
	return name, nil
}

// Stage writes the request into dir as stap's client directory holds it:
// the files the client writes, and links to the shipped script and -I
// trees. A kept temp dir (-k, --tmpdir) shows it.
func (r *Request) Stage(dir string) error {
	for _, f := range r.staging {
		p := filepath.Join(dir, filepath.FromSlash(f.name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("staging the request: %w", err)
		}
		var err error
		if f.link != "" {
			err = os.Symlink(f.link, p)
		} else {
			err = os.WriteFile(p, f.data, 0o644)
		}
		if err != nil && !(f.link != "" && errors.Is(err, fs.ErrExist)) { // -I DIR twice
			return fmt.Errorf("staging the request: %w", err)
		}
	}
	return nil
}

func canonical(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(real); err != nil {
		return "", err
	}
	return real, nil
}

// walk adds the file or tree at real as name. Links are followed like zip
// does by default; ancestors guards against link cycles.
func (b *builder) walk(real, name string, ancestors []os.FileInfo) error {
	fi, err := os.Stat(real)
	if err != nil {
		return fmt.Errorf("adding %s to the request: %w", real, err)
	}
	if !fi.IsDir() {
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("adding %s to the request: not a regular file", real)
		}
		if fi.Size() > maxInput {
			return fmt.Errorf("adding %s to the request: file exceeds %d MiB", real, maxInput>>20)
		}
		data, err := os.ReadFile(real)
		if err != nil {
			return fmt.Errorf("adding %s to the request: %w", real, err)
		}
		return b.add(name, data)
	}
	for _, a := range ancestors {
		if os.SameFile(a, fi) {
			return fmt.Errorf("adding %s to the request: directory link cycle", real)
		}
	}
	ents, err := os.ReadDir(real)
	if err != nil {
		return fmt.Errorf("adding %s to the request: %w", real, err)
	}
	// An empty directory still appears in zip's output.
	b.files = append(b.files, entry{name: name + "/"})
	for _, e := range ents {
		if err := b.walk(filepath.Join(real, e.Name()), name+"/"+e.Name(), append(ancestors, fi)); err != nil {
			return err
		}
	}
	return nil
}

// zip writes the entries sorted by name, with every parent directory before
// its contents, as `zip -r` lists them.
func (b *builder) zip() ([]byte, error) {
	dirs := map[string]bool{}
	files := map[string]entry{}
	for _, e := range b.files {
		if strings.HasSuffix(e.name, "/") {
			dirs[e.name] = true
		} else {
			files[e.name] = e
		}
		for i := 0; i < len(e.name)-1; i++ {
			if e.name[i] != '/' {
				continue
			}
			dirs[e.name[:i+1]] = true
		}
	}
	names := make([]string, 0, len(dirs)+len(files))
	for d := range dirs {
		names = append(names, d)
	}
	for f := range files {
		names = append(names, f)
	}
	sort.Strings(names)

	// Entries are written raw, with sizes and CRC up front and no timestamps:
	// per-entry overhead counts against the server's 5000-byte default limit,
	// and tiny files are stored when deflate would not shrink them.
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range names {
		h := &zip.FileHeader{Name: n, CreatorVersion: 3 << 8} // 3: Unix, for the modes
		var body []byte
		if strings.HasSuffix(n, "/") {
			h.Method = zip.Store
			h.SetMode(fs.ModeDir | 0o755)
		} else {
			data := files[n].data
			h.SetMode(0o644)
			h.CRC32 = crc32.ChecksumIEEE(data)
			h.UncompressedSize64 = uint64(len(data))
			h.Method, body = zip.Store, data
			if d, err := deflate(data); err != nil {
				return nil, fmt.Errorf("compressing request entry %s: %w", n, err)
			} else if len(d) < len(data) {
				h.Method, body = zip.Deflate, d
			}
			h.CompressedSize64 = uint64(len(body))
		}
		w, err := zw.CreateRaw(h)
		if err != nil {
			return nil, fmt.Errorf("writing request entry %s: %w", n, err)
		}
		if _, err := w.Write(body); err != nil {
			return nil, fmt.Errorf("writing request entry %s: %w", n, err)
		}
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("finishing the request zip: %w", err)
	}
	return buf.Bytes(), nil
}

func deflate(data []byte) ([]byte, error) {
	var b bytes.Buffer
	fw, err := flate.NewWriter(&b, flate.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := fw.Write(data); err != nil {
		return nil, err
	}
	if err := fw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
