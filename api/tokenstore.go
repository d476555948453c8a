package api

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gofrs/flock"
	"golang.org/x/oauth2"

	"github.com/xchat-go/markread/internal/textsafe"
)

// TokenStore keeps one user's token where every process that renews it can reach it (X's refresh tokens
// are single use). Load returns the token last saved, or an error matching ErrLoginRequired; Save
// replaces it atomically; Lock excludes every other holder, in any process, until unlock, and gives up
// when ctx is done. FileTokenStore is one for the processes of one machine; a fleet may use a database.
type TokenStore interface {
	Load(ctx context.Context) (*oauth2.Token, error)
	Save(ctx context.Context, tok *oauth2.Token) error
	Lock(ctx context.Context) (unlock func() error, err error)
}

// FileTokenStore is a TokenStore in the JSON file `markread login` writes (mode 0600, its lock beside it
// with ".lock" appended). Load refuses a file that is not regular, belongs to another user, is open to
// others, is over 64 KiB, or does not decode.
type FileTokenStore struct {
	path string        // absolute
	name string        // path, escaped to stay on one line, for errors
	held chan struct{} // heldLocks' channel for path
}

// heldLocks has a channel per path, taken before the file lock, which may not exclude this process.
var heldLocks sync.Map

const (
	maxTokenFileBytes, lockPollInterval = 64 << 10, 10 * time.Millisecond // 64 KiB: far above X's tokens
	tokenFileMode, tokenDirMode         = 0o600, 0o700
	relogin                             = "run markread login to write it again"
)

// NewFileTokenStore returns the store in the file at path, which need not exist but must not be a directory.
func NewFileTokenStore(path string) (*FileTokenStore, error) {
	if path == "" {
		return nil, errors.New("NewFileTokenStore: empty path; give the path of the token file")
	}
	abs, err := filepath.Abs(path) // fails only without a working directory
	if err != nil {
		return nil, err
	}
	held, _ := heldLocks.LoadOrStore(abs, make(chan struct{}, 1))
	s := &FileTokenStore{path: abs, name: textsafe.OneLine(abs), held: held.(chan struct{})}
	if info, err := os.Stat(abs); err == nil && !info.Mode().IsRegular() {
		return nil, fmt.Errorf("token file %s is not a regular file (%v): give the path of a file", s.name, info.Mode())
	}
	return s, nil
}

// Path is the token file's absolute path.
func (s *FileTokenStore) Path() string { return s.path }

// Load reads the token; a missing file is an error matching ErrLoginRequired.
func (s *FileTokenStore) Load(ctx context.Context) (*oauth2.Token, error) {
	f, err := openTokenFile(s.path) // does not block on a FIFO
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no token stored in %s: %w", s.name, ErrLoginRequired)
	}
	if err != nil {
		return nil, fmt.Errorf("reading token file %s: %w", s.name, pathErrorCause(err))
	}
	defer func() { _ = f.Close() }()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading token file %s: %w", s.name, pathErrorCause(err))
	}
	switch {
	case !info.Mode().IsRegular():
		return nil, fmt.Errorf("token file %s is not a regular file (%v): remove it, and %s", s.name, info.Mode(), relogin)
	case info.Size() > maxTokenFileBytes:
		return nil, fmt.Errorf("token file %s is over %d KiB, too large to be a token file: check the path, or %s",
			s.name, maxTokenFileBytes>>10, relogin)
	}
	if err := checkPrivate(s.name, info); err != nil {
		return nil, err
	}
	file := tokenFile{Token: new(oauth2.Token)}
	dec := json.NewDecoder(io.LimitReader(f, maxTokenFileBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&file); err != nil {
		return nil, fmt.Errorf("token file %s cannot be read (%v): if a newer markread wrote it, upgrade; else %s", s.name, err, relogin)
	}
	if file.Token == nil || file.AccessToken == "" && file.RefreshToken == "" {
		return nil, fmt.Errorf("token file %s holds neither an access token nor a refresh token: %s", s.name, relogin)
	}
	if file.Scope != "" {
		return file.WithExtra(map[string]any{"scope": file.Scope}), nil
	}
	return file.Token, nil
}

// replaceFile replaces path with data atomically: a temporary file beside it (os.CreateTemp makes it
// 0600), synced, renamed, and the directory synced, lest a power cut bring back a spent refresh token.
func replaceFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // fails once it is renamed
	_, err = tmp.Write(data)
	if err = cmp.Or(err, tmp.Sync(), tmp.Close()); err != nil { // all run; the first error, on one line
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// pathErrorCause is an *fs.PathError's cause, without the path the caller names itself.
func pathErrorCause(err error) error {
	if pathErr := (*fs.PathError)(nil); errors.As(err, &pathErr) {
		return pathErr.Err
	}
	return err
}

// tokenFile is the file's content: an *oauth2.Token and its Extra("scope"). Unknown members are a newer markread's.
type tokenFile struct {
	*oauth2.Token
	Scope string `json:"scope,omitempty"`
}

// Save writes tok atomically; hold Lock, or use Replace, when others may renew it.
func (s *FileTokenStore) Save(ctx context.Context, tok *oauth2.Token) error {
	if tok == nil || tok.AccessToken == "" && tok.RefreshToken == "" {
		return fmt.Errorf("saving the token to %s: it has neither an access token nor a refresh token; the file was left as it was", s.name)
	}
	scope, _ := tok.Extra("scope").(string)
	data, err := json.Marshal(tokenFile{Token: tok, Scope: scope})
	if err != nil || len(data) >= maxTokenFileBytes { // an Expiry after year 9999, or a hostile answer
		return fmt.Errorf("saving the token to %s: it is no token a file can keep (over %d KiB in JSON, or its expiry out of range); the file was left as it was",
			s.name, maxTokenFileBytes>>10)
	}
	if err := os.MkdirAll(filepath.Dir(s.path), tokenDirMode); err != nil {
		return fmt.Errorf("saving the token to %s: cannot make its directory: %w", s.name, pathErrorCause(err))
	}
	if err := replaceFile(s.path, append(data, '\n')); err != nil {
		return fmt.Errorf("saving the token to %s: %w", s.name, pathErrorCause(err))
	}
	return nil
}

// Replace saves tok under the lock, as a login does, never amid another process's renewal.
func (s *FileTokenStore) Replace(ctx context.Context, tok *oauth2.Token) error {
	unlock, err := lockWithin(ctx, s, "saving the token to "+s.name)
	if err != nil {
		return err
	}
	return cmp.Or(s.Save(ctx, tok), unlock()) // both run; the first error, on one line (errors.Join makes two)
}

// Delete removes the token file under the lock, so that a renewal under way does not write it back.
func (s *FileTokenStore) Delete(ctx context.Context) error {
	unlock, err := lockWithin(ctx, s, "deleting "+s.name)
	if err != nil {
		return err
	}
	var removeErr error
	if err := os.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		removeErr = fmt.Errorf("deleting %s: %w", s.name, pathErrorCause(err))
	}
	return cmp.Or(removeErr, unlock())
}

// lockWithin takes store's lock, waiting lockWait at most: a renewal takes a second or two, so a lock
// held longer belongs to a stuck (or suspended) process.
func lockWithin(ctx context.Context, store TokenStore, doing string) (func() error, error) {
	lockCtx, cancel := context.WithTimeout(ctx, lockWait)
	defer cancel()
	unlock, err := store.Lock(lockCtx)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return nil, fmt.Errorf("%s: another process has held the lock for over %v; if it is stuck, stop it: %w",
			doing, lockWait, context.DeadlineExceeded)
	}
	return unlock, err
}

// Lock takes an OS file lock (released if its holder dies), waiting until ctx is done.
func (s *FileTokenStore) Lock(ctx context.Context) (unlock func() error, err error) {
	select {
	case s.held <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("locking token file %s: %w", s.name, ctx.Err())
	}
	release := func() { <-s.held }
	lockPath := s.path + ".lock"
	fileLock := flock.New(lockPath, flock.SetPermissions(tokenFileMode))
	err = os.MkdirAll(filepath.Dir(lockPath), tokenDirMode)
	if err == nil {
		_, err = fileLock.TryLockContext(ctx, lockPollInterval) // ctx's error once it is done
	}
	if err != nil {
		release()
		return nil, fmt.Errorf("locking token file %s: %w", s.name, pathErrorCause(err))
	}
	return sync.OnceValue(func() error {
		defer release()
		if err := fileLock.Unlock(); err != nil {
			return fmt.Errorf("unlocking token file %s: %w", s.name, pathErrorCause(err))
		}
		return nil
	}), nil
}
