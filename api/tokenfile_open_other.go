//go:build !unix

package api

import "os"

// openTokenFile opens the token file to read. These systems have no FIFO that a path can turn into
// (Windows names its pipes under \\.\pipe\ only), and the Stat before it refuses anything but a file.
func openTokenFile(path string) (*os.File, error) {
	return os.Open(path)
}
