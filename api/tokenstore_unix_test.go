//go:build unix

package api

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A lock file that is not a regular file is refused at once: opening a FIFO blocks until a writer comes,
// whatever the context says, so Lock would hang past its bound.
func TestFileTokenStoreLockRefusesALockFileThatIsNotARegularFile(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, makeLockFile := range map[string]func(path string) error{
		"a FIFO":              func(path string) error { return syscall.Mkfifo(path, 0o600) },
		"a symlink to a FIFO": func(path string) error { return os.Symlink(fifo, path) },
		"a directory":         func(path string) error { return os.Mkdir(path, 0o700) },
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "token.json")
			lockPath := path + ".lock"
			if err := makeLockFile(lockPath); err != nil {
				t.Fatal(err)
			}
			store := newTestStore(t, path)
			// A hang guard only: the refusal must come at once, not when a context ends.
			guard, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			locked := make(chan error, 1)
			go func() {
				unlock, err := store.Lock(guard)
				if err == nil {
					_ = unlock()
				}
				locked <- err
			}()
			var err error
			select {
			case err = <-locked:
			case <-guard.Done():
				t.Errorf("Lock on %s still blocks after its context ended", name)
				// A writer ends the open of the FIFO, so that the goroutine can end.
				if w, openErr := os.OpenFile(lockPath, os.O_WRONLY|syscall.O_NONBLOCK, 0); openErr == nil {
					_ = w.Close()
				}
				<-locked
				return
			}
			checkStoreError(t, err)
			if errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), lockPath) ||
				!strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("err = %q, want at once one naming the lock file and saying it is not a regular file", err)
			}
		})
	}
}

// A token file that has become something else than a regular file after the store was made (a mistaken
// mkfifo, a shared directory) is refused at once: opening a FIFO to read blocks until a writer comes,
// whatever the context says, and a renewal Loads while it holds the lock every process waits for.
func TestFileTokenStoreLoadRefusesATokenFileThatIsNotARegularFile(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, makeTokenFile := range map[string]func(path string) error{
		"a FIFO":                 func(path string) error { return syscall.Mkfifo(path, 0o600) },
		"a symlink to a FIFO":    func(path string) error { return os.Symlink(fifo, path) },
		"a symlink to /dev/null": func(path string) error { return os.Symlink(os.DevNull, path) },
		"a directory made anew":  func(path string) error { return os.Mkdir(path, 0o700) },
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "token.json")
			store := newTestStore(t, path)
			if err := makeTokenFile(path); err != nil {
				t.Fatal(err)
			}
			// A hang guard only: the refusal must come at once, not when a context ends.
			guard, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			loaded := make(chan error, 1)
			go func() { _, err := store.Load(guard); loaded <- err }()
			var err error
			select {
			case err = <-loaded:
			case <-guard.Done():
				t.Errorf("Load of %s still blocks after its context ended", name)
				// A writer ends the open of the FIFO, so that the goroutine can end.
				if w, openErr := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); openErr == nil {
					_ = w.Close()
				}
				<-loaded
				return
			}
			checkStoreError(t, err)
			if errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), path) ||
				!strings.Contains(err.Error(), "is not a regular file") && !strings.Contains(err.Error(), "is a directory") {
				t.Errorf("err = %q, want at once one naming the token file and saying it is not a regular file", err)
			}
		})
	}
}
