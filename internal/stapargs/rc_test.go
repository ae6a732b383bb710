// SPDX-License-Identifier: GPL-2.0-or-later

package stapargs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func lookupIn(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

// rcCases were checked against stap 4.8's wordexp (see interop_test.go);
// want nil with wantErr means the whole rc file is refused.
var rcCases = []struct {
	line    string
	env     map[string]string
	want    []string
	wantErr bool
}{
	{line: `-G "a b"`, want: []string{"-G", "a b"}},
	{line: `-G a\ b`, want: []string{"-G", "a b"}},
	{line: `-G $(echo x)`, wantErr: true},
	{line: "-G `x`", wantErr: true},
	{line: "-G \"`x`\"", wantErr: true},
	{line: `-G "$(x)"`, wantErr: true},
	{line: `-G $UNDEFINEDVAR`, wantErr: true},
	{line: `-G "$UNDEFINEDVAR"`, wantErr: true},
	{line: `-G $HOME`, want: []string{"-G", "/h"}},
	{line: `-G "$HOME"`, want: []string{"-G", "/h"}},
	{line: `-G ${HOME}`, want: []string{"-G", "/h"}},
	{line: `-G ~`, want: []string{"-G", "/h"}},
	{line: `-G ~/x`, want: []string{"-G", "/h/x"}},
	{line: `-G a=~`, want: []string{"-G", "a=~"}},
	{line: `-G ~root`, want: []string{"-G", "/root"}},
	{line: `-G ~nosuchuser`, want: []string{"-G", "~nosuchuser"}},
	{line: `-G a|b`, wantErr: true},
	{line: `-G a;b`, wantErr: true},
	{line: `-G a{b`, wantErr: true},
	{line: `-G a(b`, wantErr: true},
	{line: `-G "a|b"`, want: []string{"-G", "a|b"}},
	{line: `-G ">'"`, want: []string{"-G", ">'"}},
	{line: `-G \<`, want: []string{"-G", "<"}},
	{line: `-G 'a`, wantErr: true},
	{line: `-G "a`, wantErr: true},
	{line: `-G a\`, wantErr: true},
	{line: `-G a#b`, want: []string{"-G", "a#b"}},
	{line: `-G "a\"b"`, want: []string{"-G", `a"b`}},
	{line: `-G 'a\b'`, want: []string{"-G", `a\b`}},
	{line: `-G "a\b"`, want: []string{"-G", `a\b`}},
	{line: `-G ""`, want: []string{"-G", ""}},
	{line: `-G a$`, want: []string{"-G", "a$"}},
	{line: `-G a$%`, want: []string{"-G", "a$%"}},
	{line: `-G $'a'`, want: []string{"-G", "$a"}},
	{line: `-G ${X:-d}`, wantErr: true},
	{line: `-G $X`, env: map[string]string{"X": "a b"}, want: []string{"-G", "a", "b"}},
	{line: `-G "$X"`, env: map[string]string{"X": "a b"}, want: []string{"-G", "a b"}},
	{line: `-G $X`, env: map[string]string{"X": ""}, want: []string{"-G"}},
	{line: `-G $X`, env: map[string]string{"X": "*"}, want: []string{"-G", "*"}},
	{line: `-G $X`, env: map[string]string{"X": "$Y"}, want: []string{"-G", "$Y"}},
	{line: `-G x$X`, env: map[string]string{"X": " a b "}, want: []string{"-G", "xa", "b"}},
	{line: `-G $X"y"`, env: map[string]string{"X": "a "}, want: []string{"-G", "ay"}},
	{line: `-G $X"y"`, env: map[string]string{"X": "a b "}, want: []string{"-G", "a", "by"}},
	{line: `-G "" $X`, env: map[string]string{"X": "  "}, want: []string{"-G", ""}},
	{line: `-G $X`, env: map[string]string{"X": "a:b", "IFS": ":"}, want: []string{"-G", "a", "b"}},
	{line: "  -G\tx  ", want: []string{"-G", "x"}},
	{line: "", want: nil},
}

func TestExpandWords(t *testing.T) {
	for _, tt := range rcCases {
		env := map[string]string{"HOME": "/h"}
		for k, v := range tt.env {
			env[k] = v
		}
		got, err := expandWords(tt.line, lookupIn(env))
		if tt.wantErr {
			assert.Error(t, err, "%q", tt.line)
			continue
		}
		if assert.NoError(t, err, "%q", tt.line) {
			assert.Equal(t, tt.want, got, "%q", tt.line)
		}
	}
}

func TestExpandWordsNotDone(t *testing.T) {
	// Documented gaps: refused rather than expanded differently.
	for _, line := range []string{`$((1+2))`, `$1`, `$#`, `${#X}`} {
		_, err := expandWords(line, lookupIn(map[string]string{"X": "x"}))
		assert.Error(t, err, line)
	}
	// Patterns are not expanded.
	got, err := expandWords(`f* [ab] ?`, lookupIn(nil))
	require.NoError(t, err)
	assert.Equal(t, []string{"f*", "[ab]", "?"}, got)
}

func TestRCPath(t *testing.T) {
	assert.Equal(t, "/d/rc", RCPath(lookupIn(map[string]string{"SYSTEMTAP_DIR": "/d", "HOME": "/h"})))
	assert.Equal(t, "/rc", RCPath(lookupIn(map[string]string{"SYSTEMTAP_DIR": "", "HOME": "/h"})))
	assert.Equal(t, "/h/.systemtap/rc", RCPath(lookupIn(map[string]string{"HOME": "/h"})))
}

func TestReadRC(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"SYSTEMTAP_DIR": dir, "V": "val"}

	words, err := ReadRCLookup(lookupIn(env))
	require.NoError(t, err)
	assert.Nil(t, words, "a missing rc file is no words")

	rc := filepath.Join(dir, "rc")
	require.NoError(t, os.WriteFile(rc, []byte("-v --vp=01\n\n# not a comment\n--tmpdir=\"$V dir\"\x00ignored\nlast"), 0o600))
	words, err = ReadRCLookup(lookupIn(env))
	require.NoError(t, err)
	assert.Equal(t, []string{"-v", "--vp=01", "#", "not", "a", "comment", "--tmpdir=val dir", "last"}, words)

	words, err = ReadRC(func(k string) string { return env[k] })
	require.NoError(t, err)
	assert.Len(t, words, 8)

	require.NoError(t, os.WriteFile(rc, []byte("-v\n-G $(id)\n"), 0o600))
	words, err = ReadRCLookup(lookupIn(env))
	assert.Nil(t, words)
	var rcErr *RCError
	require.ErrorAs(t, err, &rcErr)
	assert.Equal(t, "Error processing extra options in "+rc, err.Error())
	assert.Equal(t, rc, rcErr.Path)
	assert.True(t, errors.Is(err, errCommand))
	assert.Contains(t, errors.Unwrap(err).Error(), "line 2")

	// ReadRC cannot tell empty from unset: empty counts as unset.
	require.NoError(t, os.WriteFile(rc, []byte("$E\n"), 0o600))
	_, err = ReadRC(func(k string) string { return map[string]string{"SYSTEMTAP_DIR": dir}[k] })
	assert.ErrorIs(t, err, errUndefined)
	words, err = ReadRCLookup(lookupIn(map[string]string{"SYSTEMTAP_DIR": dir, "E": ""}))
	require.NoError(t, err)
	assert.Nil(t, words)
}
