//go:build unix

package api

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

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
				!strings.Contains(err.Error(), "is not a regular file (") {
				t.Errorf("err = %q, want at once one naming the token file and saying it is not a regular file", err)
			}
		})
	}
}

// ownedBy is a regular file's FileInfo that says another user owns it.
type ownedBy struct {
	fs.FileInfo
	uid uint32
}

func (o ownedBy) Sys() any { return &syscall.Stat_t{Uid: o.uid} }

// A private (0600) token file that another user owns is refused, as ssh refuses such a key: its owner
// can read and change it.
func TestFileTokenStoreLoadRefusesATokenFileOwnedByAnotherUser(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token.json")
	store := newTestStore(t, path)
	if err := store.Save(context.Background(), storedToken(time.Time{})); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	other := uint32(os.Getuid() + 1)
	if err := checkPrivate(store.name, ownedBy{info, uint32(os.Getuid())}); err != nil {
		t.Errorf("a file of the current user's: %v", err)
	}
	err = checkPrivate(store.name, ownedBy{info, other})
	if err == nil || !strings.Contains(err.Error(), path+" belongs to another user") {
		t.Errorf("err = %v, want the file refused as another user's", err)
	}
	// And through Load, where the test may give the file away (as root).
	if os.Getuid() != 0 {
		return
	}
	if err := os.Chown(path, int(other), -1); err != nil {
		t.Fatal(err)
	}
	_, err = store.Load(context.Background())
	checkStoreError(t, err, storedAccess, storedRefresh)
	if !strings.Contains(err.Error(), "belongs to another user") {
		t.Errorf("Load: err = %q, want the file refused as another user's", err)
	}
}
