// SPDX-License-Identifier: GPL-2.0-or-later

package staprun

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/internal/stapargs"
)

const mod = "/tmp/stapAbCdEf/stap_6bec_1012.ko"

func TestCommand(t *testing.T) {
	tests := []struct {
		name  string
		argv  []string
		facts Facts
		want  []string
	}{
		{"plain", []string{"-e", "probe begin{}"}, Facts{},
			[]string{DefaultPath, "-R", mod}},
		{"one -v is none for staprun", []string{"-v", "x.stp"}, Facts{},
			[]string{DefaultPath, "-R", mod}},
		{"-vvv is -v -v", []string{"-vvv", "x.stp"}, Facts{},
			[]string{DefaultPath, "-v", "-v", "-R", mod}},
		{"--vp counts pass 5 only", []string{"--vp", "00003", "x.stp"}, Facts{},
			[]string{DefaultPath, "-v", "-v", "-R", mod}},
		{"--vp without pass 5 digit", []string{"--vp", "55", "x.stp"}, Facts{},
			[]string{DefaultPath, "-R", mod}},
		{"SYSTEMTAP_STAPRUN", []string{"x.stp"}, Facts{Staprun: "/opt/rec", StaprunSet: true},
			[]string{"/opt/rec", "-R", mod}},
		{"SYSTEMTAP_STAPRUN empty is used as is", []string{"x.stp"}, Facts{StaprunSet: true},
			[]string{"", "-R", mod}},
		// docs/wire-protocol.md section 6 (example), seen with stap 4.8.
		{"protocol example",
			[]string{"-v", "-v", "-w", "-o", "/home/u/proj/o.txt", "-c", "true", "-s", "8", "-S", "2,3",
				"--color=always", "-G", "g=5", "-", "argA"},
			Facts{},
			[]string{DefaultPath, "-v", "-w", "-o", "/home/u/proj/o.txt", "-c", "true", "-b", "8", "-R",
				"-S", "2,3", "-C", "always", mod, "g=5"}},
		{"-m -F -x", []string{"-m", "mymod", "-F", "-x", "1", "x.stp"}, Facts{Module: "/tmp/stapGbyLFX/mymod.ko"},
			[]string{DefaultPath, "-t", "1", "-L", "/tmp/stapGbyLFX/mymod.ko"}},
		{"-F with -o is -D", []string{"-F", "-o", "out", "x.stp"}, Facts{},
			[]string{DefaultPath, "-o", "out", "-D", "-R", mod}},
		{"--target-namespaces", []string{"--target-namespaces=42", "x.stp"}, Facts{},
			[]string{DefaultPath, "-N", "42", "-R", mod}},
		{"uprobes", []string{"x.stp"}, Facts{Uprobes: "/tmp/stapAbCdEf/uprobes/uprobes.ko"},
			[]string{DefaultPath, "-u/tmp/stapAbCdEf/uprobes/uprobes.ko", "-R", mod}},
		{"MOK fingerprints stop -R", []string{"x.stp"}, Facts{MOKFingerprints: []string{"ab:cd"}},
			[]string{DefaultPath, mod}},
		{"--color=never", []string{"--color=never", "x.stp"}, Facts{},
			[]string{DefaultPath, "-R", "-C", "never", mod}},
		{"--color=auto is stap's default", []string{"--color=auto", "x.stp"}, Facts{},
			[]string{DefaultPath, "-R", mod}},
		{"--color alone is always", []string{"--color", "x.stp"}, Facts{},
			[]string{DefaultPath, "-R", "-C", "always", mod}},
		{"-G in order, script args not passed", []string{"-G", "a=1", "-G", "b=two", "x.stp", "s1", "s2"}, Facts{},
			[]string{DefaultPath, "-R", mod, "a=1", "b=two"}},
		{"-T, -b and -u stay on the server", []string{"-T", "5", "-b", "-u", "x.stp"}, Facts{},
			[]string{DefaultPath, "-R", mod}},
		{"everything, in stap's order",
			[]string{"-vv", "-w", "-o", "o", "-x", "7", "--target-namespaces=9", "-s", "3", "-F", "-S", "1,2",
				"--colour=never", "-G", "g=1", "x.stp"},
			Facts{Uprobes: "/u.ko"},
			[]string{DefaultPath, "-v", "-w", "-o", "o", "-t", "7", "-N", "9", "-b", "3", "-u/u.ko", "-D", "-R",
				"-S", "1,2", "-C", "never", mod, "g=1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := stapargs.Parse(tc.argv, stapargs.ParseOptions{})
			require.NoError(t, err)
			f := tc.facts
			if f.Module == "" {
				f.Module = mod
			}
			assert.Equal(t, tc.want, Command(inv, f))
		})
	}
}

// The parser refuses --monitor as Debian's stap does (no monitor libs), so
// -M is checked on a hand-made invocation.
func TestCommandMonitor(t *testing.T) {
	inv := &stapargs.Invocation{Run: stapargs.RunOptions{Monitor: true, MonitorInterval: 3}}
	assert.Equal(t, []string{DefaultPath, "-R", "-M", "3", mod}, Command(inv, Facts{Module: mod}))
}
