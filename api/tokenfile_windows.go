package api

import (
	"os"
	"path/filepath"
)

// replaceFile replaces the file at path with one holding data atomically: a temporary file in the same
// directory, synced, then renamed over it (MoveFileEx with MOVEFILE_REPLACE_EXISTING, which NTFS
// journals). renameio/v2, used elsewhere, does not build on Windows, hence these few lines of its work.
func replaceFile(path string, data []byte) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
