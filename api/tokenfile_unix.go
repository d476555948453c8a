//go:build unix

package api

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// openTokenFile opens without blocking: a plain open of a FIFO waits for a writer, whatever ctx says.
func openTokenFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}

// checkPrivate refuses a token file that is not the current user's alone, as ssh refuses such keys.
func checkPrivate(name string, info fs.FileInfo) error {
	if st, ok := info.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("token file %s belongs to another user (uid %d), not to you: remove it, and %s", name, st.Uid, relogin)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("token file %s can be read or changed by other users (mode %04o): chmod 600 it, and log in again if anyone may have read it", name, perm)
	}
	return nil
}

// syncDir syncs dir, so that a rename in it survives a power cut.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer func() { _ = d.Close() }()
	return d.Sync()
}
