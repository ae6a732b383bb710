// SPDX-License-Identifier: GPL-2.0-or-later

package labenv

// Hello is the man page's Hello World script.
const Hello = `probe begin { printf("Hello World!\n"); exit() }`

// Case is one invocation the differential tiers run through the real stap
// and through stap-client (the fixtures in its directory).
type Case struct {
	Name  string
	Args  []string
	Stdin string
	// Module is true when a .ko must be saved in the cwd.
	Module bool
	// VV: compare at -vv, where stap also logs the zip, unzip, sed and rm
	// commands it runs (we run none) and its version banner on stdout.
	VV bool
	// Lab48 marks the cases that only the 4.8 lab runs (test/interop);
	// test/interop5 runs the others against each 5.x release.
	Lab48 bool
}

// Cases is the differential table for kernel release rel.
func Cases(rel string) []Case {
	return []Case{
		{Name: "p1 inline", Args: []string{"-r", rel, "-p1", "-e", Hello}},
		{Name: "p2 file", Args: []string{"-r", rel, "-p2", "hello.stp"}},
		{Name: "p4 module saved", Args: []string{"-r", rel, "-p4", "-e", Hello}, Module: true},
		{Name: "-m NAME", Args: []string{"-r", rel, "-p4", "-m", "hellomod", "hello.stp"}, Module: true, Lab48: true},
		{Name: "script args", Args: []string{"-r", rel, "-p2", "args.stp", "foo bar", "42"}},
		{Name: "stdin script", Args: []string{"-r", rel, "-p2", "-"}, Stdin: Hello + "\n"},
		{Name: "-I tapset dir", Args: []string{"-r", rel, "-p2", "-I", "tapdir", "usetap.stp"}},
		{Name: "parse error", Args: []string{"-r", rel, "-p2", "bad.stp"}},
		{Name: "semantic error", Args: []string{"-r", rel, "-p2", "-e", "probe begin { x = nosuchfunc() }"}},
		{Name: "missing script", Args: []string{"-r", rel, "-p2", "nosuch.stp"}},
		{Name: "verbose", Args: []string{"-v", "-r", rel, "-p2", "hello.stp"}},
		{Name: "permuted options", Args: []string{"hello.stp", "-p2", "-r", rel}},
		{Name: "release mismatch forces pass 4", Args: []string{"-r", rel, "-e", Hello}, Module: true, Lab48: true},
		{Name: "stapusr: signed module", Args: []string{"--privilege=stapusr", "-r", rel, "-p4", "-e", Hello}, Module: true, Lab48: true},
		{Name: "-k keeps the temp dir", Args: []string{"-k", "-r", rel, "-p2", "hello.stp"}},
		{Name: "-vv", Args: []string{"-vv", "-r", rel, "-p2", "hello.stp"}, VV: true, Lab48: true},
	}
}
