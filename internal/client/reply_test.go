// SPDX-License-Identifier: GPL-2.0-or-later

package client

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/flate"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/internal/response"
	"github.com/stap-client/stap-client/internal/testkit"
)

// Replies too large to hold: the fake server streams them, and the real
// binary runs as a subprocess so its peak RSS and signals are real.

// bigEntry is a zip entry of count copies of chunk. Its deflate data is the
// chunk compressed once, with no reference before the chunk, then repeated:
// a deflate stream of such blocks is valid, so neither side of the test
// holds or compresses the whole.
type bigEntry struct {
	name  string
	chunk []byte
	count int
	raw   []byte // the chunk's blocks, sync-flushed, not final
	tail  []byte // the final empty block
	crc   uint32
}

func newBigEntry(t testing.TB, name string, chunk []byte, count int) *bigEntry {
	t.Helper()
	var b bytes.Buffer
	fw, err := flate.NewWriter(&b, flate.DefaultCompression)
	require.NoError(t, err)
	_, err = fw.Write(chunk)
	require.NoError(t, err)
	require.NoError(t, fw.Flush())
	n := b.Len()
	require.NoError(t, fw.Close())
	e := &bigEntry{name: name, chunk: chunk, count: count, raw: b.Bytes()[:n], tail: b.Bytes()[n:]}
	for range count {
		e.crc = crc32.Update(e.crc, crc32.IEEETable, chunk)
	}
	return e
}

func (e *bigEntry) size() int64 { return int64(len(e.chunk)) * int64(e.count) }

// writeReply writes a response zip: the small entries, then the big ones.
func writeReply(w io.Writer, small []testkit.ZipEntry, big ...*bigEntry) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	zw := zip.NewWriter(bw)
	for _, e := range small {
		h := &zip.FileHeader{Name: e.Name, Method: zip.Deflate}
		h.SetMode(0o644)
		if e.Mode != 0 {
			h.SetMode(e.Mode)
		}
		fw, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		if _, err := io.WriteString(fw, e.Body); err != nil {
			return err
		}
	}
	for _, e := range big {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, CRC32: e.crc,
			CompressedSize64: uint64(len(e.raw))*uint64(e.count) + uint64(len(e.tail)), UncompressedSize64: uint64(e.size())}
		h.SetMode(0o644)
		fw, err := zw.CreateRaw(h)
		if err != nil {
			return err
		}
		for range e.count {
			if _, err := fw.Write(e.raw); err != nil {
				return err
			}
		}
		if _, err := fw.Write(e.tail); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

// stdoutChunk is 1 MiB of text lines (none ending in .ko) that repeat
// within the deflate window, so a GB of it is a few MB on the wire.
var stdoutChunk = sync.OnceValue(func() []byte {
	var blk bytes.Buffer
	for i := 0; blk.Len() < 16<<10; i++ {
		fmt.Fprintf(&blk, "line %05d of the server's stdout: the quick brown fox jumps\n", i)
	}
	return bytes.Repeat(blk.Bytes()[:16<<10], 64)
})

// moduleChunk is 1 MiB of noise: a module does not compress much.
var moduleChunk = sync.OnceValue(func() []byte {
	b := make([]byte, 1<<20)
	r := rand.NewChaCha8([32]byte{16})
	_, _ = r.Read(b)
	return b
})

var p2Small = []testkit.ZipEntry{{Name: "version", Body: "4.8"}, {Name: "rc", Body: "0"}, {Name: "stderr", Body: "server stderr\n"}}

// periodic checks that what is written is copies of chunk, and counts it.
type periodic struct {
	chunk []byte
	n     int64
	bad   bool
}

func (p *periodic) Write(b []byte) (int, error) {
	for done := 0; done < len(b); {
		off := int(p.n % int64(len(p.chunk)))
		k := min(len(b)-done, len(p.chunk)-off)
		if !bytes.Equal(b[done:done+k], p.chunk[off:off+k]) {
			p.bad = true
		}
		done += k
		p.n += int64(k)
	}
	return len(b), nil
}

var (
	binOnce    sync.Once
	binPath    string
	binErr     error
	binCleanup func()
)

// clientBinary is $STAP_CLIENT_BIN (make test builds it), else a build of
// this tree, removed by TestMain.
func clientBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() { binPath, binCleanup, binErr = testkit.TempClient() })
	require.NoError(t, binErr)
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binCleanup != nil {
		binCleanup()
	}
	os.Exit(code)
}

// binRun is the binary started against a fake server, with a fresh cwd and
// TMPDIR (the temp parent) to check that nothing is left behind.
type binRun struct {
	cmd      *exec.Cmd
	stdout   io.ReadCloser
	stderr   *bytes.Buffer
	cwd, tmp string
}

func startBinary(t testing.TB, s *testkit.FakeServer, env []string, args ...string) *binRun {
	t.Helper()
	r := &binRun{cwd: t.TempDir(), tmp: t.TempDir(), stderr: &bytes.Buffer{}}
	args = append([]string{"--server=" + s.Addr, "--ssl=" + s.CertDir}, args...)
	r.cmd = exec.Command(clientBinary(t), args...)
	r.cmd.Dir = r.cwd
	r.cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + r.cwd, "TMPDIR=" + r.tmp, DiscoveryTimeoutEnv + "=300ms"}, env...)
	r.cmd.Stderr = r.stderr
	var err error
	r.stdout, err = r.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, r.cmd.Start())
	t.Cleanup(func() {
		if r.cmd.ProcessState == nil {
			_ = r.cmd.Process.Kill()
			_ = r.cmd.Wait()
		}
	})
	return r
}

// wait returns the exit status and the peak RSS in MiB.
func (r *binRun) wait(t testing.TB) (int, float64) {
	t.Helper()
	err := r.cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		require.NoError(t, err)
	}
	ru := r.cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return r.cmd.ProcessState.ExitCode(), float64(ru.Maxrss) / 1024
}

// leftNothing: the temp parent is empty (the private dir was removed).
func (r *binRun) leftNothing(t testing.TB) {
	t.Helper()
	assert.Empty(t, testkit.Entries(t, r.tmp), "the private temp dir is removed")
}

// serveBig answers with the small entries and the big ones, streamed.
func serveBig(t testing.TB, small []testkit.ZipEntry, big ...*bigEntry) *testkit.FakeServer {
	return testkit.StartFake(t, testkit.Fake{Handle: func(c net.Conn, _ []byte) { _ = writeReply(c, small, big...) }})
}

const maxPeakRSS = 32 // MiB, the bound

func TestBinaryPrintsOneGBToAPipe(t *testing.T) {
	out := newBigEntry(t, "stdout", stdoutChunk(), 1000) // 1000 MiB
	s := serveBig(t, p2Small, out)
	r := startBinary(t, s, nil, "-p2", "-e", "probe begin {}")
	got := &periodic{chunk: stdoutChunk()}
	_, err := io.Copy(got, r.stdout)
	require.NoError(t, err)
	code, rss := r.wait(t)
	require.Equal(t, 0, code, r.stderr.String())
	assert.Equal(t, out.size(), got.n, "the whole stdout arrives")
	assert.False(t, got.bad, "stdout arrives unchanged")
	assert.Equal(t, "server stderr\n", r.stderr.String())
	assert.LessOrEqual(t, rss, float64(maxPeakRSS), "peak RSS in MiB")
	t.Logf("1000 MiB stdout: peak RSS %.1f MiB", rss)
	r.leftNothing(t)
	assert.Empty(t, testkit.Entries(t, r.cwd))
}

func TestBinaryInterrupted(t *testing.T) {
	big := serveBig(t, p2Small, newBigEntry(t, "stdout", stdoutChunk(), 400))
	// A server that stops after the first bytes of its reply.
	started, stalled := make(chan struct{}, 1), make(chan struct{})
	t.Cleanup(func() { close(stalled) })
	slow := testkit.StartFake(t, testkit.Fake{Handle: func(c net.Conn, _ []byte) {
		_, _ = c.Write([]byte("PK\x03\x04"))
		started <- struct{}{}
		<-stalled
	}})
	tests := []struct {
		name   string
		server *testkit.FakeServer
		sig    syscall.Signal
		// when waits for the moment to interrupt; it may read stdout.
		when func(t *testing.T, r *binRun)
		// drain keeps reading stdout after the signal.
		drain bool
	}{
		{"SIGINT while printing", big, syscall.SIGINT, readSome, true},
		{"SIGINT while printing to a stalled pipe", big, syscall.SIGINT, readSome, false},
		{"SIGTERM while unpacking", big, syscall.SIGTERM, unpacking, true},
		{"SIGTERM while receiving", slow, syscall.SIGTERM, func(*testing.T, *binRun) { <-started }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := startBinary(t, tc.server, nil, "-p2", "-e", "probe begin {}")
			tc.when(t, r)
			start := time.Now()
			require.NoError(t, r.cmd.Process.Signal(tc.sig))
			if tc.drain {
				go io.Copy(io.Discard, r.stdout)
			}
			code, _ := r.wait(t)
			took := time.Since(start)
			t.Logf("exit %d, %v after the signal; stderr: %q", code, took, r.stderr.String())
			assert.Equal(t, 1, code, r.stderr.String())
			assert.Less(t, took, time.Second, "the run ends within 1 s of the signal")
			r.leftNothing(t)
			assert.Empty(t, testkit.Entries(t, r.cwd))
		})
	}
}

// readSome reads the first 8 MiB of stdout: printing has begun.
func readSome(t *testing.T, r *binRun) {
	_, err := io.CopyN(io.Discard, r.stdout, 8<<20)
	require.NoError(t, err)
}

// unpacking waits until the server's stdout is being written to the
// private temp dir.
func unpacking(t *testing.T, r *binRun) {
	require.Eventually(t, func() bool {
		m, _ := filepath.Glob(filepath.Join(r.tmp, "stap*", "server", "stdout"))
		if len(m) == 0 {
			return false
		}
		fi, err := os.Stat(m[0])
		return err == nil && fi.Size() > 0
	}, 30*time.Second, time.Millisecond)
}

// The hostile replies, in process: each is refused with one clear message
// and leaves nothing behind.
func TestRunRefusesReplyOverBudget(t *testing.T) {
	zeros := newBigEntry(t, "stdout", make([]byte, 1<<20), 256) // 256 MiB of zeros, 256 KiB deflated
	var many []testkit.ZipEntry
	for i := range 40 {
		many = append(many, testkit.ZipEntry{Name: fmt.Sprintf("stap000000/f%02d.o", i), Body: strings.Repeat("o", 100<<10)})
	}
	var lots []testkit.ZipEntry
	for i := range 1100 {
		lots = append(lots, testkit.ZipEntry{Name: fmt.Sprintf("stap000000/e%04d", i)})
	}
	tests := []struct {
		name   string
		budget string
		answer func(c net.Conn, _ []byte)
		want   string
	}{
		{"zero bomb", "64M", func(c net.Conn, _ []byte) { _ = writeReply(c, p2Small, zeros) },
			"the reply unpacks to more than 64M; if the server is honest and needs more, set STAP_CLIENT_MAX_REPLY to a larger size (e.g. STAP_CLIENT_MAX_REPLY=128M)"},
		{"entries adding up past the budget", "1M", func(c net.Conn, _ []byte) { _ = writeReply(c, append(p2Small, many...)) },
			"the reply unpacks to more than 1M;"},
		{"too many entries", "1M", func(c net.Conn, _ []byte) { _ = writeReply(c, append(p2Small, lots...)) },
			"the reply has more than 1024 entries; if the server is honest and needs more, set STAP_CLIENT_MAX_REPLY to a larger size (e.g. STAP_CLIENT_MAX_REPLY=2M)"},
		{"too large on the wire", "1M", func(c net.Conn, _ []byte) { _, _ = c.Write(moduleChunk()); _, _ = c.Write(moduleChunk()) },
			"the reply is larger than the limit of 1M; if the server is honest"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := testkit.StartFake(t, testkit.Fake{Handle: tc.answer})
			r := runEnv(t, nil, map[string]string{response.MaxReplyEnv: tc.budget}, "--server="+s.Addr, "--ssl="+s.CertDir, "-p2", "-e", "probe begin {}")
			assert.Equal(t, 1, r.code)
			assert.Contains(t, r.stderr, "stap-client: ERROR: server host=unknown address=127.0.0.1 ")
			assert.Contains(t, r.stderr, tc.want)
			assert.NotContains(t, r.stderr, "Unable to connect to a server.")
			assert.Empty(t, r.stdout)
			assert.Empty(t, testkit.Entries(t, r.tmp), "the private temp dir is removed")
			assert.Empty(t, testkit.Entries(t, r.cwd))
		})
	}
}

func TestRunBrokenReplies(t *testing.T) {
	good := testkit.ServerZip(t, testkit.ZipEntry{Name: "version", Body: "4.8"}, testkit.ZipEntry{Name: "rc", Body: "0"},
		testkit.ZipEntry{Name: "stdout", Body: string(moduleChunk()[:20000])})
	tests := []struct {
		name   string
		answer func(c net.Conn, _ []byte)
		want   []string
	}{
		{"reset mid-reply", func(c net.Conn, _ []byte) {
			_, _ = c.Write(good[:1000])
			time.Sleep(300 * time.Millisecond) // let the client read it
			reset(c)
		}, []string{"the connection was reset after 1000 bytes of the reply"}},
		{"cut short", func(c net.Conn, _ []byte) { _, _ = c.Write(good[:1000]) },
			[]string{"Unable to unzip the server response '", "the reply is not a valid zip file (1000 bytes, cut short or malformed)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := testkit.StartFake(t, testkit.Fake{Handle: tc.answer})
			r := runClient(t, "--server="+s.Addr, "--ssl="+s.CertDir, "-p2", "-e", "probe begin {}")
			assert.Equal(t, 1, r.code)
			for _, w := range tc.want {
				assert.Contains(t, r.stderr, w)
			}
			assert.NotContains(t, r.stderr, "Unable to connect to a server.")
			assert.Empty(t, r.stdout)
			assert.Empty(t, testkit.Entries(t, r.tmp), "the private temp dir is removed")
		})
	}
}

// reset ends a connection with a TCP RST.
func reset(c net.Conn) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if tcp, ok := c.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = c.Close()
}

func TestRunBadBudget(t *testing.T) {
	r := runEnv(t, nil, map[string]string{response.MaxReplyEnv: "lots"}, "--server=127.0.0.1:1", "-p2", "-e", "probe begin {}")
	assert.Equal(t, 1, r.code)
	assert.Equal(t, "stap-client: ERROR: STAP_CLIENT_MAX_REPLY: \"lots\" is not a size (e.g. 2G, 512M or a byte count)\n", r.stderr)
	assert.Empty(t, testkit.Entries(t, r.tmp))
}

// BenchmarkReplyPeakRSS is the memory goal: the binary's peak RSS
// for large replies, at most 32 MiB each (bench/reply-rss.sh runs it).
func BenchmarkReplyPeakRSS(b *testing.B) {
	mod := "stap_0123456789abcdef0123456789abcdef_1"
	p4Small := []testkit.ZipEntry{{Name: "version", Body: "4.8"}, {Name: "rc", Body: "0"}, {Name: "stderr"},
		{Name: "stdout", Body: "/srv/" + mod + ".ko\n"}, {Name: "stap000000/", Mode: os.ModeDir | 0o755}}
	for _, bc := range []struct {
		name  string
		small []testkit.ZipEntry
		big   *bigEntry
		args  []string
	}{
		{"stdout-200MiB", p2Small, newBigEntry(b, "stdout", stdoutChunk(), 200), []string{"-p2"}},
		{"stdout-1000MiB", p2Small, newBigEntry(b, "stdout", stdoutChunk(), 1000), []string{"-p2"}},
		{"module-64MiB", p4Small, newBigEntry(b, "stap000000/"+mod+".ko", moduleChunk(), 64), []string{"-p4"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := serveBig(b, bc.small, bc.big)
			var peak float64
			for b.Loop() {
				r := startBinary(b, s, nil, append(bc.args, "-e", "probe begin {}")...)
				_, err := io.Copy(io.Discard, r.stdout)
				require.NoError(b, err)
				code, rss := r.wait(b)
				require.Equal(b, 0, code, r.stderr.String())
				r.leftNothing(b)
				if bc.args[0] == "-p4" {
					fi, err := os.Stat(filepath.Join(r.cwd, mod+".ko"))
					require.NoError(b, err)
					require.Equal(b, bc.big.size(), fi.Size(), "the module is saved whole")
				}
				peak = max(peak, rss)
			}
			b.ReportMetric(peak, "peak-RSS-MiB")
			if peak > maxPeakRSS {
				b.Errorf("peak RSS %.1f MiB, over %d MiB", peak, maxPeakRSS)
			}
		})
	}
}
