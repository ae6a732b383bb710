// SPDX-License-Identifier: GPL-2.0-or-later

package stapargs

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strings"
)

// RCPath is the file stap reads extra options from: $SYSTEMTAP_DIR/rc, or
// $HOME/.systemtap/rc (the passwd entry's home when HOME is unset).
func RCPath(lookup func(string) (string, bool)) string {
	if d, ok := lookup("SYSTEMTAP_DIR"); ok {
		return d + "/rc"
	}
	return homeDir(lookup) + "/.systemtap/rc"
}

func homeDir(lookup func(string) (string, bool)) string {
	if h, ok := lookup("HOME"); ok {
		return h
	}
	if u, err := user.Current(); err == nil {
		return u.HomeDir
	}
	return "/"
}

// ReadRC returns the words of the rc file, to be put before the command
// line's arguments, as stap does. getenv reports unset variables as "";
// ReadRCLookup tells unset from empty, as stap does.
func ReadRC(getenv func(string) string) ([]string, error) {
	return ReadRCLookup(func(k string) (string, bool) {
		v := getenv(k)
		return v, v != ""
	})
}

// ReadRCLookup is ReadRC with a lookup that tells unset from empty.
//
// Each line is expanded like wordexp(3) with WRDE_NOCMD|WRDE_UNDEF: quotes
// and backslashes, $NAME and ${NAME} (unset is an error), ~ and ~user. A
// command substitution, an unset variable, an unquoted one of |&;<>(){} or
// a syntax error fails the whole file with *RCError. Not done: pathname
// expansion (patterns stay literal), $((...)) arithmetic, ${NAME...}
// operators and special parameters ($1, $#, ...), which fail instead. A
// missing or unreadable file gives no words, as in stap.
func ReadRCLookup(lookup func(string) (string, bool)) ([]string, error) {
	path := RCPath(lookup)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil
	}
	lines := strings.Split(string(data), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	var words []string
	for n, line := range lines {
		w, err := expandWords(line, lookup)
		if err != nil {
			return nil, &RCError{Path: path, Err: fmt.Errorf("line %d: %w", n+1, err)}
		}
		words = append(words, w...)
	}
	return words, nil
}

var (
	errCommand   = errors.New("command substitution is not allowed")
	errBadChar   = errors.New("unquoted special character")
	errSyntax    = errors.New("syntax error")
	errNotDone   = errors.New("expansion not supported")
	errUndefined = errors.New("undefined variable")
)

// expandWords is wordexp(3) for one line, within the limits ReadRCLookup
// lists.
func expandWords(line string, lookup func(string) (string, bool)) ([]string, error) {
	if i := strings.IndexByte(line, 0); i >= 0 {
		line = line[:i] // a C string ends at NUL
	}
	w := &wordSplitter{line: line, lookup: lookup, ifs: " \t\n"}
	if v, ok := lookup("IFS"); ok {
		w.ifs = v
	}
	for i := 0; i < len(line); i++ {
		end, err := w.step(i)
		if err != nil {
			return nil, err
		}
		i = end
	}
	w.emit()
	return w.words, nil
}

// wordSplitter is the state of expandWords over one line.
type wordSplitter struct {
	line   string
	lookup func(string) (string, bool)
	ifs    string
	words  []string
	cur    strings.Builder
	inWord bool // cur is a word even if empty (quotes were seen)
}

func (w *wordSplitter) emit() {
	if w.inWord {
		w.words = append(w.words, w.cur.String())
	}
	w.cur.Reset()
	w.inWord = false
}

// addSplit appends an unquoted expansion: split on IFS, the first field
// joins the current word and later ones start new words (glibc joins
// across leading and trailing IFS characters).
func (w *wordSplitter) addSplit(v string) {
	fields := strings.FieldsFunc(v, func(r rune) bool { return strings.ContainsRune(w.ifs, r) })
	for i, f := range fields {
		if i > 0 {
			w.emit()
		}
		w.cur.WriteString(f)
		w.inWord = true
	}
}

// step takes the character at line[i] and returns the index of the last
// character it consumed.
func (w *wordSplitter) step(i int) (int, error) {
	line := w.line
	c := line[i]
	switch {
	case c == ' ' || c == '\t':
		w.emit()
		return i, nil
	case c == '\\':
		if i+1 >= len(line) {
			return 0, errSyntax
		}
		i++
		w.cur.WriteByte(line[i])
	case c == '\'':
		j := strings.IndexByte(line[i+1:], '\'')
		if j < 0 {
			return 0, errSyntax
		}
		w.cur.WriteString(line[i+1 : i+1+j])
		i += j + 1
	case c == '"':
		end, err := doubleQuoted(line, i+1, &w.cur, w.lookup)
		if err != nil {
			return 0, err
		}
		i = end
	case c == '$':
		return w.dollar(i)
	case c == '`':
		return 0, errCommand
	case c == '~' && w.cur.Len() == 0 && !w.inWord:
		i = w.tilde(i)
	case strings.IndexByte("\n|&;<>(){}", c) >= 0:
		return 0, errBadChar
	default:
		w.cur.WriteByte(c)
	}
	w.inWord = true
	return i, nil
}

// dollar takes an unquoted $ expansion at line[i].
func (w *wordSplitter) dollar(i int) (int, error) {
	v, end, literal, err := dollar(w.line, i, w.lookup)
	if err != nil {
		return 0, err
	}
	if literal {
		w.cur.WriteByte('$')
		w.inWord = true
		return i, nil
	}
	w.addSplit(v)
	return end, nil
}

// tilde takes a ~ or ~user at the start of a word, line[i], and returns
// the index of its last character.
func (w *wordSplitter) tilde(i int) int {
	line := w.line
	end := i + 1
	for end < len(line) && line[end] != '/' && line[end] != ' ' && line[end] != '\t' {
		end++
	}
	if home, ok := tilde(line[i+1:end], w.lookup); ok {
		w.cur.WriteString(home)
	} else {
		w.cur.WriteString(line[i:end])
	}
	return end - 1
}

// doubleQuoted copies a "..." body starting at line[start] and returns the
// index of the closing quote.
func doubleQuoted(line string, start int, cur *strings.Builder, lookup func(string) (string, bool)) (int, error) {
	for i := start; i < len(line); i++ {
		switch c := line[i]; c {
		case '"':
			return i, nil
		case '\\':
			if i+1 < len(line) && strings.IndexByte("$`\"\\\n", line[i+1]) >= 0 {
				i++
				cur.WriteByte(line[i])
			} else {
				cur.WriteByte(c)
			}
		case '`':
			return 0, errCommand
		case '$':
			v, end, literal, err := dollar(line, i, lookup)
			if err != nil {
				return 0, err
			}
			if literal {
				cur.WriteByte('$')
				continue
			}
			cur.WriteString(v)
			i = end
		default:
			cur.WriteByte(c)
		}
	}
	return 0, errSyntax
}

// dollar expands the parameter at line[i] == '$'. It returns the value and
// the index of its last byte, or literal=true for a '$' that starts nothing.
func dollar(line string, i int, lookup func(string) (string, bool)) (value string, end int, literal bool, err error) {
	if i+1 >= len(line) {
		return "", i, true, nil
	}
	c := line[i+1]
	switch {
	case c == '(':
		// $( is a command (refused by WRDE_NOCMD); $(( is arithmetic, not done.
		return "", 0, false, errCommand
	case c == '{':
		j := strings.IndexByte(line[i+2:], '}')
		if j < 0 {
			return "", 0, false, errSyntax
		}
		name := line[i+2 : i+2+j]
		if !isName(name) {
			return "", 0, false, fmt.Errorf("${%s}: %w", name, errNotDone)
		}
		v, ok := lookup(name)
		if !ok {
			return "", 0, false, fmt.Errorf("%s: %w", name, errUndefined)
		}
		return v, i + 2 + j, false, nil
	case isNameStart(c):
		j := i + 1
		for j < len(line) && (isNameStart(line[j]) || isDigit(line[j])) {
			j++
		}
		name := line[i+1 : j]
		v, ok := lookup(name)
		if !ok {
			return "", 0, false, fmt.Errorf("%s: %w", name, errUndefined)
		}
		return v, j - 1, false, nil
	case isDigit(c) || strings.IndexByte("#$*@?-!", c) >= 0:
		return "", 0, false, fmt.Errorf("$%c: %w", c, errNotDone)
	}
	return "", i, true, nil
}

func isNameStart(c byte) bool {
	return c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z')
}

func isName(s string) bool {
	if s == "" || !isNameStart(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isNameStart(s[i]) && !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// tilde expands ~ (HOME, else the passwd entry) and ~user.
func tilde(name string, lookup func(string) (string, bool)) (string, bool) {
	if name == "" {
		if h, ok := lookup("HOME"); ok {
			return h, true
		}
		u, err := user.Current()
		if err != nil {
			return "", false
		}
		return u.HomeDir, true
	}
	u, err := user.Lookup(name)
	if err != nil {
		return "", false
	}
	return u.HomeDir, true
}
