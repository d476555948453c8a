//go:build !unix

package api

import (
	"io/fs"
	"os"
)

// openTokenFile opens the token file to read. These systems have no FIFO a path can turn into.
func openTokenFile(path string) (*os.File, error) { return os.Open(path) }

// checkPrivate accepts any owner and mode: on Windows they mean little (access is by ACL).
func checkPrivate(string, fs.FileInfo) error { return nil }

// syncDir does nothing: Windows cannot sync a directory, and NTFS journals the rename.
func syncDir(string) error { return nil }
