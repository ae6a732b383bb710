// SPDX-License-Identifier: GPL-2.0-or-later

package vm

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/stap-client/stap-client/test/labenv"
)

// The real stap reaches pass 5 only when the target is the running kernel,
// and the lab's server builds only for Debian's kernel, not this host's.
// So the cross-check runs where both hold: in the VM, the real stap 4.8
// (with its libraries and the lab's trust database) and stap-client run
// the same invocations against the same server, each with
// SYSTEMTAP_STAPRUN at a script that records its argv.

type diffCase struct {
	name  string
	args  []string
	recRC int // the recorder's exit status
}

var diffCases = []diffCase{
	{"plain", []string{"-e", "probe begin { exit() }"}, 0},
	// docs/wire-protocol.md section 6's example, with a script argument that must not
	// reach staprun.
	{"protocol-example", []string{"-v", "-v", "-w", "-o", "/root/o.txt", "-c", "true", "-s", "8", "-S", "2,3",
		"--color=always", "-G", "g=5", "-e", "global g = 1; probe begin { exit() }", "argA"}, 0},
	{"modname-load-only-pid", []string{"-m", "mymod", "-F", "-x", "1", "-e", "probe begin { exit() }"}, 0},
	{"load-only-output", []string{"-F", "-o", "out", "-e", "probe begin { exit() }"}, 0},
	{"vvv-never-namespaces", []string{"-vvv", "--color=never", "--target-namespaces=1", "-e", "probe begin { exit() }"}, 0},
	{"vp-pass5", []string{"--vp", "00002", "-e", "probe begin { exit() }"}, 0},
	{"globals-auto", []string{"--colour=auto", "-G", "a=1", "-G", "b=2", "-e", "global a, b; probe begin { exit() }"}, 0},
	{"staprun-fails", []string{"-e", "probe begin { exit() }"}, 3},
}

func shquote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func diffGuestScript() string {
	var b strings.Builder
	b.WriteString(`mkdir -p /tmp/rec
printf '#!/bin/sh\nprintf "%%s\\n" "$@" > "$REC"\nexit "${RECRC:-0}"\n' > /tmp/rec/staprun
chmod +x /tmp/rec/staprun
`)
	for _, c := range diffCases {
		var q []string
		for _, a := range c.args {
			q = append(q, shquote(a))
		}
		args := strings.Join(q, " ")
		for _, who := range []string{"stap", "client"} {
			cmd := `HOME=/stap-home stap --use-server=10.0.2.2:$LAB_PORT ` + args
			if who == "client" {
				cmd = `stap-client --server=10.0.2.2:$LAB_PORT --ssl=/certs ` + args
			}
			id := c.name + "/" + who
			fmt.Fprintf(&b, `rm -f /tmp/rec/argv
REC=/tmp/rec/argv RECRC=%d SYSTEMTAP_STAPRUN=/tmp/rec/staprun %s >/tmp/rec/log 2>&1
rc=$?
echo "STAPVM-BEGIN %s"
cat /tmp/rec/argv
echo "STAPVM-END %s rc=$rc"
echo "STAPVM-BEGIN %s-log"
cat /tmp/rec/log
echo "STAPVM-END %s-log rc=0"
`, c.recRC, cmd, id, id, id, id)
		}
	}
	b.WriteString(`cat >/tmp/rec/trap <<'TRAP'
#!/bin/sh
trap 'echo TERM >> "$REC.terms"; [ "$STAY" = 1 ] || exit 0' TERM
echo $$ > "$REC.ready"
while :; do sleep 0.1; done
TRAP
chmod +x /tmp/rec/trap
`)
	for _, c := range interruptCases {
		for _, who := range []string{"stap", "client"} {
			cmd := `HOME=/stap-home stap --use-server=10.0.2.2:$LAB_PORT`
			if who == "client" {
				cmd = `stap-client --server=10.0.2.2:$LAB_PORT --ssl=/certs`
			}
			id := c.name + "/" + who
			fmt.Fprintf(&b, `rm -f /tmp/rec/s.*
REC=/tmp/rec/s STAY=%d SYSTEMTAP_STAPRUN=/tmp/rec/trap %s -e 'probe begin { printf("up\n") }' >/tmp/rec/log 2>&1 &
pid=$!
i=0
while [ ! -f /tmp/rec/s.ready ] && kill -0 $pid 2>/dev/null && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
for n in $(seq %d); do
	kill -INT $pid
	i=0
	while [ "$(grep -c TERM /tmp/rec/s.terms 2>/dev/null)" != $n ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
done
wait $pid
rc=$?
[ -f /tmp/rec/s.ready ] && kill -KILL "$(cat /tmp/rec/s.ready)" 2>/dev/null
echo "STAPVM-BEGIN %s"
cat /tmp/rec/s.terms
echo "STAPVM-END %s rc=$rc"
echo "STAPVM-BEGIN %s-log"
cat /tmp/rec/log
echo "STAPVM-END %s-log rc=0"
`, c.stay, cmd, c.interrupts, id, id, id, id)
		}
	}
	return b.String()
}

// interruptCases send SIGINT to stap and stap-client during pass 5, whose
// staprun stand-in records the SIGTERMs it gets.
var interruptCases = []struct {
	name       string
	interrupts int
	stay       int // 1: the stand-in survives SIGTERM
}{
	{"sigint", 1, 0},
	{"three-sigints", 3, 1},
}

var tmpModule = regexp.MustCompile(`^/tmp/stap\w{6}/(stap_[0-9a-f]+_\d+|[a-z0-9_]+)\.ko$`)

// normalize puts the temp dir and a generated module name aside.
func normalize(argv []string) []string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if m := tmpModule.FindStringSubmatch(a); m != nil {
			name := m[1]
			if strings.HasPrefix(name, "stap_") {
				name = "stap_HASH_N"
			}
			a = "TMP/" + name + ".ko"
		}
		out[i] = a
	}
	return out
}

func TestPass5MatchesRealStap(t *testing.T) {
	console := labenv.VMRun(t, diffGuestScript(), "VM_EXTRA="+strings.Join(labenv.StapFiles, " "), "VM_HOME="+labStapHome(t))
	sec := labenv.Sections(console)
	for _, c := range diffCases {
		t.Run(c.name, func(t *testing.T) {
			stap, client := sec[c.name+"/stap"], sec[c.name+"/client"]
			stapLog, clientLog := sec[c.name+"/stap-log"].Text, sec[c.name+"/client-log"].Text
			if !assert.NotEmpty(t, stap.Text, "the real stap ran no staprun:\n%s", stapLog) {
				return
			}
			t.Logf("stap's staprun argv: %q", normalize(stap.Lines()))
			assert.Equal(t, normalize(stap.Lines()), normalize(client.Lines()), "staprun argv\nstap:\n%s\nstap-client:\n%s", stapLog, clientLog)
			assert.Equal(t, stap.RC, client.RC, "exit status\nstap:\n%s\nstap-client:\n%s", stapLog, clientLog)
			assert.Equal(t, pass5Lines(stapLog), pass5Lines(clientLog))
		})
	}
	// In the same VM run: booting again would double the tier's time.
	for _, c := range interruptCases {
		t.Run(c.name, func(t *testing.T) {
			stap, client := sec[c.name+"/stap"], sec[c.name+"/client"]
			stapLog, clientLog := sec[c.name+"/stap-log"].Text, sec[c.name+"/client-log"].Text
			t.Logf("stap: exit %s, staprun got %q", stap.RC, stap.Lines())
			assert.Equal(t, stap.RC, client.RC, "exit status\nstap:\n%s\nstap-client:\n%s", stapLog, clientLog)
			assert.Equal(t, stap.Text, client.Text, "the SIGTERMs staprun got")
			assert.Equal(t, interruptLines(stapLog), interruptLines(clientLog))
		})
	}
}

// interruptLines are what an interrupted pass 5 prints at any verbosity.
func interruptLines(log string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "interrupts") || strings.HasPrefix(l, "Pass 5") || strings.HasPrefix(l, "WARNING: /tmp/rec") {
			out = append(out, l)
		}
	}
	return out
}

// pass5Lines are the lines pass 5 prints whatever the verbosity: the
// staprun failure warning and the failure line.
func pass5Lines(log string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "/tmp/rec/staprun exited") || strings.HasPrefix(l, "Pass 5: run failed") {
			out = append(out, l)
		}
	}
	return out
}

// labStapHome is the lab's HOME for the real stap, holding its trust
// database; "" without a lab (vmRun then skips or fails).
func labStapHome(t *testing.T) string {
	t.Helper()
	p := os.Getenv("LAB_ENV")
	if p == "" {
		return ""
	}
	return readEnv(t, p)["LAB_STAP_HOME"]
}
