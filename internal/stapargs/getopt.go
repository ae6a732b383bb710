// SPDX-License-Identifier: GPL-2.0-or-later

package stapargs

import (
	"fmt"
	"strings"
)

// getopt walks argv as glibc 2.36 getopt_long does with stap's tables:
// bundling, attached or separate values, unique prefixes of long options,
// permutation (operands are set aside and parsing goes on) and "--".
type getopt struct {
	prog     string
	table    []Option // the long options of the stap being mimicked
	args     []string
	next     int    // index of the next argv element to look at
	cluster  string // rest of a short-option cluster such as "kp4"
	operands []string
}

// match is one option found on the command line.
type match struct {
	opt      *Option
	spelling string // "-p" or "--tmpdir" (full name even if abbreviated)
	arg      string
	hasArg   bool // false only for an optional argument left out
}

// optionError is a getopt diagnostic, worded exactly as glibc prints it.
type optionError struct{ msg string }

func (e *optionError) Error() string { return e.msg }

func (g *getopt) errorf(format string, a ...any) error {
	return &optionError{msg: g.prog + ": " + fmt.Sprintf(format, a...)}
}

// scan returns the next option, or ok=false when argv is used up.
func (g *getopt) scan() (m match, ok bool, err error) {
	if g.cluster != "" {
		m, err = g.short()
		return m, err == nil, err
	}
	for g.next < len(g.args) {
		a := g.args[g.next]
		switch {
		case a == "--":
			g.operands = append(g.operands, g.args[g.next+1:]...)
			g.next = len(g.args)
			return match{}, false, nil
		case len(a) < 2 || a[0] != '-':
			// Not an option (a lone "-" is stdin): set it aside, as
			// glibc's permutation moves it after the options.
			g.operands = append(g.operands, a)
			g.next++
		case a[1] == '-':
			g.next++
			m, err = g.long(a[2:])
			return m, err == nil, err
		default:
			g.next++
			g.cluster = a[1:]
			m, err = g.short()
			return m, err == nil, err
		}
	}
	return match{}, false, nil
}

func (g *getopt) short() (match, error) {
	c := g.cluster[0]
	g.cluster = g.cluster[1:]
	o := shortOption(c)
	if o == nil {
		g.cluster = ""
		// glibc prints the byte as is (%c), even when it is not ASCII.
		return match{}, g.errorf("invalid option -- '%s'", string([]byte{c}))
	}
	m := match{opt: o, spelling: "-" + string(c)}
	if o.Arg == NoArgument {
		return m, nil
	}
	// Short options here never have optional values.
	switch {
	case g.cluster != "":
		m.arg, m.hasArg = g.cluster, true
		g.cluster = ""
	case g.next < len(g.args):
		m.arg, m.hasArg = g.args[g.next], true
		g.next++
	default:
		return match{}, g.errorf("option requires an argument -- '%s'", string([]byte{c}))
	}
	return m, nil
}

// long handles "--text"; text is what follows the dashes, "=value" included.
func (g *getopt) long(text string) (match, error) {
	name, value, hasValue := strings.Cut(text, "=")
	var found *Option
	// An exact name wins over longer names it is a prefix of.
	table := g.table
	for i := range table {
		if table[i].Long != "" && table[i].Long == name {
			found = &table[i]
			break
		}
	}
	if found == nil {
		// glibc compares each later candidate with the first one only; a
		// candidate that is the same option (colour = color) is not listed.
		var ambiguous []*Option
		for i := range table {
			o := &table[i]
			if o.Long == "" || !strings.HasPrefix(o.Long, name) {
				continue
			}
			switch {
			case found == nil:
				found = o
			case !sameOption(found, o):
				if ambiguous == nil {
					ambiguous = append(ambiguous, found)
				}
				ambiguous = append(ambiguous, o)
			}
		}
		if ambiguous != nil {
			var b strings.Builder
			for _, o := range ambiguous {
				b.WriteString(" '--" + o.Long + "'")
			}
			return match{}, g.errorf("option '--%s' is ambiguous; possibilities:%s", text, b.String())
		}
	}
	if found == nil {
		return match{}, g.errorf("unrecognized option '--%s'", text)
	}
	m := match{opt: found, spelling: "--" + found.Long}
	switch {
	case hasValue && found.Arg == NoArgument:
		return match{}, g.errorf("option '--%s' doesn't allow an argument", found.Long)
	case hasValue:
		m.arg, m.hasArg = value, true
	case found.Arg == RequiredArgument:
		if g.next >= len(g.args) {
			return match{}, g.errorf("option '--%s' requires an argument", found.Long)
		}
		m.arg, m.hasArg = g.args[g.next], true
		g.next++
	}
	return m, nil
}

// sameOption is glibc's test for "not ambiguous": same has_arg and the same
// value returned (stap maps color and colour to one code).
func sameOption(a, b *Option) bool {
	return a.Arg == b.Arg && a.canonical() == b.canonical()
}

func (o *Option) canonical() string {
	if o.SynonymOf != "" {
		return o.SynonymOf
	}
	return o.key()
}
