//go:build unix

package api

import (
	"os"
	"syscall"
)

// openTokenFile opens the token file to read without blocking: were it a FIFO by now, a plain open would
// wait for a writer, whatever the caller's context says. Reads of a regular file are not changed by it.
func openTokenFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}
