// SPDX-License-Identifier: GPL-2.0-or-later

package stapargs

import "strings"

// UsageError is a command line stap 4.8 refuses. Lines are what stap prints
// on stderr, in order, before exiting with status 1: any warnings already
// printed during parsing, then the error itself.
type UsageError struct {
	Lines []string
	// Usage means stap follows Lines with its two hint lines,
	// "Try '--help' for more information. [man stap]" and
	// "A message like [man foo] means for more info, run % man foo".
	Usage bool
	// ShowVersion means stap also prints its version banner on stdout
	// (--runtime=dyninst in a build without dyninst).
	ShowVersion bool
}

func (e *UsageError) Error() string { return strings.Join(e.Lines, "\n") }

// UsageHint returns the two lines stap prints after a usage error.
func UsageHint() []string {
	return []string{
		"Try '--help' for more information. [man stap]",
		"A message like [man foo] means for more info, run % man foo",
	}
}

// RCError is a failure to expand the rc file. Its Error text is exactly
// what stap prints (stap prints it without a trailing newline); the cause is
// available with errors.Unwrap.
type RCError struct {
	Path string
	Err  error
}

func (e *RCError) Error() string { return "Error processing extra options in " + e.Path }

func (e *RCError) Unwrap() error { return e.Err }
