package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/gofrs/flock"
	"golang.org/x/oauth2"

	"github.com/xchat-go/markread/internal/plural"
	"github.com/xchat-go/markread/internal/textsafe"
)

// TokenStore keeps one user's OAuth 2.0 token where every process that refreshes it can reach it. X's
// refresh tokens are single use: whoever refreshes must persist the rotated token before anyone else
// refreshes, or the next refresh is refused (invalid_grant) and the bot needs a person again.
// NewStoreTokenSource keeps that rule for any store that keeps this contract:
//
//   - Load returns the token last saved, as saved, from wherever it is called: a Save in one process is
//     seen by the next Load in every other. When no token is stored, its error matches
//     errors.Is(err, ErrLoginRequired); it never returns a nil token without an error.
//   - Save replaces the stored token atomically: a Load at the same time, or after a crash at any point,
//     sees the old token or the new one, whole. It keeps the token's Extra("scope") (X's granted scopes,
//     space-separated) if it can. It gives up when ctx is done.
//   - Lock excludes every other holder of the lock, in this process and in every other that uses the
//     store, until unlock is called; it returns a non-nil unlock whenever its error is nil. It waits at
//     most until ctx is done, then returns an error. A lock whose holder dies must not stay held for
//     ever: release it with the holder (an OS file lock, a database session's advisory lock) or let it
//     lapse after longer than a refresh takes (the token source holds it for its Load, at most 30
//     seconds of request and 10 of Save).
//
// The token source calls Save only while it holds the lock, and reads the token again after taking it:
// another process may have rotated it meanwhile. It saves a renewed token under a context of its own,
// bounded at 10 seconds, not the source's: the token must be saved even when the source's context has
// ended meanwhile, since X has already spent the old refresh token. A fleet of machines can share one
// token through a database or a secret manager that implements these three methods; FileTokenStore is
// the store for the processes of one machine.
type TokenStore interface {
	Load(ctx context.Context) (*oauth2.Token, error)
	Save(ctx context.Context, tok *oauth2.Token) error
	Lock(ctx context.Context) (unlock func() error, err error)
}

// FileTokenStore is a TokenStore in a JSON file, as `markread login` writes it: the members encoding/json
// writes for an *oauth2.Token, and "scope". The file is replaced atomically (a temporary file in the same
// directory, synced, then renamed) with mode 0600, in a directory created with mode 0700 when missing;
// Lock is an OS file lock on the file's path with ".lock" appended, which the OS releases when its
// holder exits, however it exits.
//
// Load refuses a file that is not a regular file (a FIFO, say, which would block it), that others than
// its owner can read or write (except on Windows, where modes mean little), that is empty or corrupt,
// or that holds members this version does not know (a newer markread's), with an error naming the file
// and saying what to do. No error shows the file's contents.
type FileTokenStore struct {
	path string
	// held is this store's own lock, taken before the file lock: a file lock may not exclude the
	// goroutines of one process (it does not on systems where locks belong to the process).
	held chan struct{}
}

// Bounds of the file store.
const (
	maxTokenFileBytes = 64 << 10              // far above any token X issues; anything larger is not a token file
	lockPollInterval  = 10 * time.Millisecond // how often a lock held elsewhere is tried again
	tokenFileMode     = 0o600
	tokenDirMode      = 0o700
)

// NewFileTokenStore returns the store kept in the file at path, which need not exist yet. It checks that
// path can be a token file: not empty, not a directory or other non-regular file, and not inside a file.
func NewFileTokenStore(path string) (*FileTokenStore, error) {
	s, err := newFileTokenStore(path)
	return s, prefixedStore(err)
}

func newFileTokenStore(path string) (*FileTokenStore, error) {
	if path == "" {
		return nil, errors.New("NewFileTokenStore: empty path; give the path of the token file")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("NewFileTokenStore: token file %q: %w", path, err)
	}
	// The nearest directory that exists: a missing one is made by Save, but one that is a file never can be.
	for dir := filepath.Dir(abs); ; dir = filepath.Dir(dir) {
		info, err := os.Stat(dir)
		if err == nil && !info.IsDir() {
			return nil, fmt.Errorf("token file %s cannot be made: %s is not a directory", abs, dir)
		}
		if err == nil || filepath.Dir(dir) == dir {
			break
		}
	}
	switch info, err := os.Stat(abs); {
	case err == nil && info.IsDir():
		return nil, fmt.Errorf("token file %s is a directory: give the path of a file in it instead", abs)
	case err == nil && !info.Mode().IsRegular():
		return nil, fmt.Errorf("token file %s is not a regular file (mode %s): give the path of a file", abs, info.Mode())
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("token file %s: %w", abs, pathErrorCause(err))
	}
	return &FileTokenStore{path: abs, held: make(chan struct{}, 1)}, nil
}

// made reports a FileTokenStore that NewFileTokenStore did not make, which has no file.
func (s *FileTokenStore) made() error {
	if s == nil || s.held == nil {
		return errors.New("FileTokenStore: not made by NewFileTokenStore")
	}
	return nil
}

// Path is the token file's absolute path.
func (s *FileTokenStore) Path() string { return s.path }

// Load reads the token from the file. A missing file is an error matching errors.Is(err,
// ErrLoginRequired); a file that cannot be used gives an error that names it and says what to do.
func (s *FileTokenStore) Load(ctx context.Context) (*oauth2.Token, error) {
	tok, err := s.load(ctx)
	return tok, prefixedStore(err)
}

func (s *FileTokenStore) load(ctx context.Context) (*oauth2.Token, error) {
	if err := s.made(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("reading token file %s: %w", s.path, err)
	}
	// The path was checked when the store was made, but it may have become a FIFO or a device since:
	// anything but a regular file is refused before it is opened, and again once it is open, as it
	// may change in between.
	info, err := os.Stat(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no token stored in %s: %w", s.path, ErrLoginRequired)
	}
	if err != nil {
		return nil, s.readError(err)
	}
	if err := s.notRegular(info); err != nil {
		return nil, err
	}
	f, err := openTokenFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no token stored in %s: %w", s.path, ErrLoginRequired)
	}
	if err != nil {
		return nil, s.readError(err)
	}
	defer func() { _ = f.Close() }()
	if info, err = f.Stat(); err != nil {
		return nil, s.readError(err)
	}
	if err := s.notRegular(info); err != nil {
		return nil, err
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("token file %s can be read or changed by other users (mode %04o): run chmod 600 %s, "+
			"and run markread login to replace the token if anyone else may have read it", s.path, perm, s.path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxTokenFileBytes+1))
	if err != nil {
		return nil, s.readError(err)
	}
	if len(data) > maxTokenFileBytes {
		return nil, fmt.Errorf("token file %s is larger than %d KiB, too large to be a token file: check the path, or run markread login to write it again",
			s.path, maxTokenFileBytes>>10)
	}
	return decodeTokenFile(s.path, data)
}

// notRegular refuses a token file that is not a regular file: a directory, a FIFO, a device.
func (s *FileTokenStore) notRegular(info fs.FileInfo) error {
	switch {
	case info.IsDir():
		return fmt.Errorf("token file %s is a directory: remove it, or give the path of a file in it, and run markread login", s.path)
	case !info.Mode().IsRegular():
		return fmt.Errorf("token file %s is not a regular file (mode %s): remove it, and run markread login to write it again", s.path, info.Mode())
	}
	return nil
}

// readError names the file and what went wrong, without the *fs.PathError's repetition of the path.
func (s *FileTokenStore) readError(err error) error {
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("token file %s cannot be read (permission denied): check its owner and mode (it should be 0600 and yours)", s.path)
	}
	return fmt.Errorf("reading token file %s: %w", s.path, pathErrorCause(err))
}

// pathErrorCause is what an *fs.PathError says went wrong, without the operation and the path, which the
// caller names itself.
func pathErrorCause(err error) error {
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		return pathErr.Err
	}
	return err
}

// tokenFile is the file's content: the members encoding/json writes for an *oauth2.Token, and X's
// granted scopes, which x/oauth2 keeps in Extra("scope").
type tokenFile struct {
	*oauth2.Token
	Scope string `json:"scope,omitempty"`
}

// tokenFileMembers are the member names a token file may have; any other was written by a newer version.
var tokenFileMembers = sync.OnceValue(func() map[string]bool {
	members := map[string]bool{}
	for _, field := range reflect.VisibleFields(reflect.TypeFor[tokenFile]()) {
		name, _, _ := strings.Cut(field.Tag.Get("json"), ",")
		if field.IsExported() && !field.Anonymous && name != "" && name != "-" {
			members[name] = true
		}
	}
	return members
})

// decodeTokenFile reads a token file's content. Its errors name the file and say what to do, and never
// quote the content: it holds the tokens.
func decodeTokenFile(path string, data []byte) (*oauth2.Token, error) {
	replace := "run markread login to write it again"
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("token file %s is empty: %s", path, replace)
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		return nil, fmt.Errorf("token file %s is corrupt (%s): %s", path, jsonProblem(err), replace)
	}
	newer := 0
	for name := range members {
		if !tokenFileMembers()[name] {
			newer++ // not named: a corrupt file's member name may be a token
		}
	}
	if newer > 0 {
		return nil, fmt.Errorf("token file %s was written by a newer version of markread (it has %s this version does not know): "+
			"upgrade markread, or %s", path, plural.Count(newer, "member"), replace)
	}
	file := tokenFile{Token: new(oauth2.Token)}
	if err := json.Unmarshal(data, &file); err != nil {
		return nil, fmt.Errorf("token file %s is corrupt (%s): %s", path, jsonProblem(err), replace)
	}
	tok := file.Token
	if tok.AccessToken == "" && tok.RefreshToken == "" {
		return nil, fmt.Errorf("token file %s holds neither an access token nor a refresh token: %s", path, replace)
	}
	if file.Scope != "" {
		tok = tok.WithExtra(map[string]any{"scope": file.Scope})
	}
	return tok, nil
}

// jsonProblem says where a token file's JSON went wrong without quoting it: a syntax error's text may
// hold a character of a token, a type error's the value.
func jsonProblem(err error) string {
	var syntax *json.SyntaxError
	var wrongType *json.UnmarshalTypeError
	var badTime *time.ParseError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("not valid JSON at byte %d", syntax.Offset)
	case errors.As(err, &wrongType) && wrongType.Field != "":
		// Field is a path through the struct; the file's members are its last element.
		return fmt.Sprintf("member %q is not a %s", wrongType.Field[strings.LastIndex(wrongType.Field, ".")+1:], wrongType.Type)
	case errors.As(err, &wrongType):
		return "not a JSON object"
	case errors.As(err, &badTime):
		return `member "expiry" is not a time in RFC 3339 form`
	}
	return "not a token in JSON"
}

// encodeTokenFile returns a token file's content for tok, or an error, which never quotes the token, when
// Load would refuse that content: a file written anyway would stop every process's next Load.
func encodeTokenFile(tok *oauth2.Token) ([]byte, error) {
	if tok.AccessToken == "" && tok.RefreshToken == "" {
		return nil, errors.New("it holds neither an access token nor a refresh token")
	}
	scope, _ := tok.Extra("scope").(string)
	data, err := json.Marshal(tokenFile{Token: tok, Scope: scope})
	if err != nil {
		// Only an Expiry outside years 0-9999 gets here; its text holds no token.
		return nil, err
	}
	data = append(data, '\n')
	if len(data) > maxTokenFileBytes {
		return nil, fmt.Errorf("it is %d KiB in JSON, more than the %d KiB a token file may hold", (len(data)+1023)>>10, maxTokenFileBytes>>10)
	}
	return data, nil
}

// Save writes tok to the file atomically, with mode 0600, making its directory (mode 0700) if missing.
// Call it while holding Lock when other processes may refresh the token. A token that Load would refuse
// (one with neither an access token nor a refresh token, or larger than 64 KiB in JSON) is refused,
// and the file left as it was.
func (s *FileTokenStore) Save(ctx context.Context, tok *oauth2.Token) error {
	return prefixedStore(s.save(ctx, tok))
}

func (s *FileTokenStore) save(ctx context.Context, tok *oauth2.Token) error {
	if err := s.made(); err != nil {
		return err
	}
	if tok == nil {
		return errors.New("FileTokenStore.Save: nil token")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("saving the token to %s: %w", s.path, err)
	}
	data, err := encodeTokenFile(tok)
	if err != nil {
		return fmt.Errorf("saving the token to %s: %w; the file was left as it was", s.path, err)
	}
	dir := filepath.Dir(s.path)
	if err := os.MkdirAll(dir, tokenDirMode); err != nil {
		return fmt.Errorf("saving the token to %s: cannot make its directory: %w", s.path, pathErrorCause(err))
	}
	if err := replaceFile(s.path, data); err != nil {
		return fmt.Errorf("saving the token to %s: %w", s.path, pathErrorCause(err))
	}
	return nil
}

// Lock takes the store's lock: an OS file lock on the token file's path with ".lock" appended (created
// with mode 0600, its directory with 0700, when missing), held until unlock is called. It waits while
// another process or goroutine holds it, until ctx is done. The OS releases the lock of a process that
// dies. A lock file that is not a regular file (a FIFO, a directory, a symbolic link) is refused.
func (s *FileTokenStore) Lock(ctx context.Context) (unlock func() error, err error) {
	unlock, err = s.lock(ctx)
	return unlock, prefixedStore(err)
}

func (s *FileTokenStore) lock(ctx context.Context) (func() error, error) {
	if err := s.made(); err != nil {
		return nil, err
	}
	lockPath := s.path + ".lock"
	select {
	case s.held <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the lock on token file %s: %w", s.path, ctx.Err())
	}
	release := func() { <-s.held }
	if err := os.MkdirAll(filepath.Dir(lockPath), tokenDirMode); err != nil {
		release()
		return nil, fmt.Errorf("lock file %s: cannot make its directory: %w", lockPath, pathErrorCause(err))
	}
	// flock opens the file before it polls, and opening a FIFO blocks until a writer comes, whatever ctx
	// says: anything but a regular file (or none yet) is refused first. Lstat, so that a link to one is too.
	if info, err := os.Lstat(lockPath); err == nil && !info.Mode().IsRegular() {
		release()
		return nil, fmt.Errorf("lock file %s is not a regular file (mode %s): remove it, and markread makes it again", lockPath, info.Mode())
	}
	fileLock := flock.New(lockPath, flock.SetPermissions(tokenFileMode))
	locked, err := fileLock.TryLockContext(ctx, lockPollInterval)
	if !locked || err != nil {
		release()
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("waiting for lock file %s, held by another process: %w", lockPath, ctxErr)
		}
		return nil, fmt.Errorf("lock file %s: %w", lockPath, pathErrorCause(err))
	}
	return sync.OnceValue(func() error {
		defer release()
		if err := fileLock.Unlock(); err != nil {
			return prefixedStore(fmt.Errorf("unlocking lock file %s: %w", lockPath, pathErrorCause(err)))
		}
		return nil
	}), nil
}

// Delete removes the token file, as logging out does; a missing file is no error. It takes the store's
// lock first, so that a renewal under way in another process ends, saved, before the file goes, rather
// than writing the token back after it; it waits for that at most a minute, or until ctx is done. The
// lock file stays: removed while another process holds or waits for it, a third could lock a new one,
// and two would hold the lock at once.
func (s *FileTokenStore) Delete(ctx context.Context) error {
	return prefixedStore(s.delete(ctx))
}

func (s *FileTokenStore) delete(ctx context.Context) error {
	if err := s.made(); err != nil {
		return err
	}
	if ctx == nil {
		return errors.New("FileTokenStore.Delete: nil context")
	}
	lockCtx, cancel := context.WithTimeout(ctx, lockWait)
	defer cancel()
	unlock, err := s.lock(lockCtx)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return fmt.Errorf("deleting token file %s: another process has held its lock for over %v; if it is stuck, stop it: %w",
				s.path, lockWait, err)
		}
		return err
	}
	var removeErr error
	if err := os.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		removeErr = fmt.Errorf("removing %s: %w", s.path, pathErrorCause(err))
	}
	return joinErrors(removeErr, withoutPrefix(unlock()))
}

// storeError is an error of the token store or a store's token source as it leaves the package, with
// its "markread: " prefix. It is a type of its own so that the package, meeting it again (a
// FileTokenStore's error in the token source, the source's error in the Client), can drop the prefix
// by type and never say "markread:" twice.
type storeError struct{ err error }

// Error escapes what could break the line: a path may hold any character but NUL and /.
func (e *storeError) Error() string { return textsafe.OneLine(prefixed(e.err).Error()) }
func (e *storeError) Unwrap() error { return e.err }

// Format prints the error's text whatever the verb: a %d would otherwise make fmt walk to a cause that
// quotes the token endpoint's answer.
func (e *storeError) Format(f fmt.State, verb rune) { formatText(f, verb, e.Error()) }

// prefixedStore is prefixed for the token store and its source: see storeError.
func prefixedStore(err error) error {
	if err == nil {
		return nil
	}
	return &storeError{err: withoutPrefix(err)}
}

// withoutPrefix returns the error inside a storeError, so that it can be wrapped again without a
// second prefix; any other error as it is.
func withoutPrefix(err error) error {
	if own, ok := err.(*storeError); ok {
		return own.err
	}
	return err
}
