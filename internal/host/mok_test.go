// SPDX-License-Identifier: GPL-2.0-or-later

package host

import (
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
)

func TestMOKEnrolment(t *testing.T) {
	tests := []struct {
		name string
		root fs.FS
		want error
	}{
		{"EFI boot, efivarfs mounted", fstest.MapFS{"sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c": {}}, nil},
		// efivarfs need not be mounted for mokutil to be of use later.
		{"EFI boot, efivarfs not mounted", fstest.MapFS{"sys/firmware/efi": {Mode: fs.ModeDir}}, nil},
		{"BIOS boot with sig_enforce", fstest.MapFS{"sys/module/module/parameters/sig_enforce": {Data: []byte("Y\n")}}, ErrNoEFI},
		{"nothing to read", nil, ErrNoEFI},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, MOKEnrolment(tt.root))
		})
	}
}
