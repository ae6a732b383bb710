// SPDX-License-Identifier: GPL-2.0-or-later

package stapargs

import (
	"math"
	"strconv"
	"strings"
)

// stap converts option values with the C library and checks only what it
// leaves over, so odd spellings (" 4", "+4", "4294967297", "0x10") behave
// in ways that matter for a drop-in. These helpers reproduce glibc in the
// C locale.

func isCSpace(c byte) bool {
	return c == ' ' || (c >= '\t' && c <= '\r')
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func digitValue(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	}
	return 99
}

// cSign skips C's leading white space and one sign, as the strto*
// functions do, returning where the digits start and whether it was '-'.
func cSign(s string) (int, bool) {
	i := 0
	for i < len(s) && isCSpace(s[i]) {
		i++
	}
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		return i + 1, s[i] == '-'
	}
	return i, false
}

// strtoul is glibc strtoul for base 10 or 0 (auto: 0x hex, 0 octal). It
// returns the value as C's unsigned long and the unconverted rest (the whole
// input when nothing was converted).
func strtoul(s string, base int) (uint64, string) {
	i, neg := cSign(s)
	if base == 0 {
		switch {
		case i+2 < len(s) && s[i] == '0' && s[i+1]|0x20 == 'x' && digitValue(s[i+2]) < 16:
			base, i = 16, i+2
		case i < len(s) && s[i] == '0':
			base = 8
		default:
			base = 10
		}
	}
	start := i
	var v uint64
	overflow := false
	for i < len(s) && digitValue(s[i]) < base {
		d := uint64(digitValue(s[i]))
		if v > (math.MaxUint64-d)/uint64(base) {
			overflow = true
		}
		v = v*uint64(base) + d
		i++
	}
	if i == start {
		return 0, s
	}
	switch {
	case overflow:
		v = math.MaxUint64
	case neg:
		v = -v
	}
	return v, s[i:]
}

// cInt is C's (int) cast of an unsigned long on Linux: keep the low 32 bits.
func cInt(v uint64) int { return int(int32(uint32(v))) }

// strtod is glibc strtod in the C locale: the value and the unconverted
// rest (the whole input when nothing was converted).
func strtod(s string) (float64, string) {
	i, neg := cSign(s)
	sign := 1.0
	if neg {
		sign = -1
	}
	rest := s[i:]
	lower := strings.ToLower(rest)
	switch {
	case strings.HasPrefix(lower, "infinity"):
		return sign * math.Inf(1), rest[8:]
	case strings.HasPrefix(lower, "inf"):
		return sign * math.Inf(1), rest[3:]
	case strings.HasPrefix(lower, "nan"):
		r := rest[3:]
		if strings.HasPrefix(r, "(") {
			if j := strings.IndexByte(r, ')'); j > 0 && isNanChars(r[1:j]) {
				r = r[j+1:]
			}
		}
		return math.NaN(), r
	}
	hex := len(rest) > 2 && rest[0] == '0' && (rest[1] == 'x' || rest[1] == 'X')
	base, expChar, j := 10, byte('e'), 0
	if hex {
		base, expChar, j = 16, 'p', 2
	}
	mant := j
	digits := 0
	for j < len(rest) && digitValue(rest[j]) < base {
		j, digits = j+1, digits+1
	}
	if j < len(rest) && rest[j] == '.' {
		j++
		for j < len(rest) && digitValue(rest[j]) < base {
			j, digits = j+1, digits+1
		}
	}
	if digits == 0 {
		if hex {
			// "0x" with no hex digits converts the "0" alone.
			return 0, rest[1:]
		}
		return 0, s
	}
	num := rest[mant:j]
	exp := ""
	if j < len(rest) && (rest[j]|0x20) == expChar {
		k := j + 1
		if k < len(rest) && (rest[k] == '+' || rest[k] == '-') {
			k++
		}
		if k < len(rest) && isDigit(rest[k]) {
			for k < len(rest) && isDigit(rest[k]) {
				k++
			}
			exp, j = rest[j+1:k], k
		}
	}
	var text string
	if hex {
		if exp == "" {
			exp = "0"
		}
		text = "0x" + num + "p" + exp
	} else {
		text = num
		if exp != "" {
			text += "e" + exp
		}
	}
	// ParseFloat reports out-of-range values as ±Inf or 0 with an error,
	// as strtod does with ERANGE; the value is what matters here.
	v, _ := strconv.ParseFloat(text, 64)
	return sign * v, rest[j:]
}

func isNanChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isDigit(c) || c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z')) {
			return false
		}
	}
	return true
}

// cIntFromDouble is the x86-64 double-to-int conversion: truncation, and
// INT_MIN for NaN and out-of-range values.
func cIntFromDouble(f float64) int {
	if math.IsNaN(f) || f >= 1<<31 || f <= -(1<<31)-1 {
		return math.MinInt32
	}
	return int(f)
}

// strverscmp is glibc's version comparison: digits compare numerically,
// and a run of leading zeros is a fraction ("4.08" < "4.8" < "4.10").
func strverscmp(a, b string) int {
	const (
		sN, sI, sF, sZ = 0, 3, 6, 9
		cmp, length    = 2, 3
	)
	nextState := [...]int{
		sN, sI, sZ,
		sN, sI, sI,
		sN, sF, sF,
		sN, sF, sZ,
	}
	resultType := [...]int{
		cmp, cmp, cmp, cmp, length, cmp, cmp, cmp, cmp,
		cmp, -1, -1, +1, length, length, +1, length, length,
		cmp, cmp, cmp, cmp, cmp, cmp, cmp, cmp, cmp,
		cmp, +1, +1, -1, cmp, cmp, -1, cmp, cmp,
	}
	// C strings: index past the end reads NUL.
	at := func(s string, i int) int {
		if i < len(s) {
			return int(s[i])
		}
		return 0
	}
	class := func(c int) int {
		n := 0
		if c == '0' {
			n++
		}
		if c >= '0' && c <= '9' {
			n++
		}
		return n
	}
	i := 0
	c1, c2 := at(a, i), at(b, i)
	i++
	state := sN + class(c1)
	diff := c1 - c2
	for diff == 0 {
		if c1 == 0 {
			return 0
		}
		state = nextState[state]
		c1, c2 = at(a, i), at(b, i)
		i++
		state += class(c1)
		diff = c1 - c2
	}
	switch r := resultType[state*3+class(c2)]; r {
	case cmp:
		return diff
	case length:
		p1, p2 := i, i
		for isDigit(byte(at(a, p1))) {
			p1++
			if !isDigit(byte(at(b, p2))) {
				return 1
			}
			p2++
		}
		if isDigit(byte(at(b, p2))) {
			return -1
		}
		return diff
	default:
		return r
	}
}
