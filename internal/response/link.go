// SPDX-License-Identifier: GPL-2.0-or-later

package response

import (
	"fmt"
	"github.com/stap-client/stap-client/internal/stapmsg"
	"os"
	"path/filepath"
)

// LinkBuildDir links each entry of the server's build directory into the
// temp dir, as stap does: "<tmp>/NAME.ko" is then the module's path in
// messages and in a kept (-k) directory. It returns stap's message on
// failure.
func LinkBuildDir(buildDir, tmp string) error {
	ents, err := os.ReadDir(buildDir)
	if err != nil {
		return fmt.Errorf("reading the server's build directory: %w", err)
	}
	for _, e := range ents {
		oldname := filepath.Join(buildDir, e.Name())
		newname := filepath.Join(tmp, e.Name())
		if err := os.Symlink(oldname, newname); err != nil {
			return &ReadError{fmt.Sprintf("Unable to link '%s' to '%s':%s", oldname, newname, stapmsg.Strerror(err))}
		}
	}
	return nil
}
