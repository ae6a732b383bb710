// Package labenv reads the KEY=VALUE files the lab scripts write
// (lab.env, net.env) for the real-system test tiers.
package labenv

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Read parses a lab description: blank lines and # comments skipped,
// an optional "export ", values unquoted.
func Read(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading the lab description: %w", err)
	}
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s: bad line %q", path, line)
		}
		vars[strings.TrimPrefix(k, "export ")] = strings.Trim(v, `"'`)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return vars, nil
}

// ClientBinary is $STAP_CLIENT_BIN, or else a stap-client built from
// ../../cmd/stap-client (a tier's package directory) into a temporary
// directory that cleanup removes.
func ClientBinary() (bin string, cleanup func(), err error) {
	if bin = os.Getenv("STAP_CLIENT_BIN"); bin != "" {
		return bin, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "stap-client-bin")
	if err != nil {
		return "", nil, err
	}
	bin = filepath.Join(dir, "stap-client")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/stap-client").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("building stap-client: %v\n%s", err, out)
	}
	return bin, func() { os.RemoveAll(dir) }, nil
}
