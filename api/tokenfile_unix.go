//go:build !windows

package api

import (
	"os"
	"path/filepath"

	"github.com/google/renameio/v2"
)

// replaceFile replaces the file at path with one holding data, mode 0600, atomically: a temporary file
// in the same directory, synced, renamed over it, and the directory synced, so that a crash at any
// point leaves the old file or the new one, whole.
func replaceFile(path string, data []byte) error {
	// Static permissions: a file someone loosened is replaced by a private one, not copied.
	pending, err := renameio.NewPendingFile(path, renameio.WithTempDir(filepath.Dir(path)),
		renameio.WithStaticPermissions(tokenFileMode))
	if err != nil {
		return err
	}
	defer func() { _ = pending.Cleanup() }() // removes the temporary file unless it replaced path
	if _, err := pending.Write(data); err != nil {
		return err
	}
	if err := pending.CloseAtomicallyReplace(); err != nil {
		return err
	}
	// Without this, a power cut may bring back the old file, whose refresh token the new one's
	// refresh has already spent.
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer func() { _ = dir.Close() }()
	return dir.Sync()
}
