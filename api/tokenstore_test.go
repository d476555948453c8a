package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/oauth2"

	"github.com/xchat-go/markread/api/apitest"
)

// Secrets of the tokens these tests store; no error may show them.
const (
	storedAccess  = "stored-access-token-3b9f1c"
	storedRefresh = "stored-refresh-token-8d2e7a"
)

func storedToken(expiry time.Time) *oauth2.Token {
	return (&oauth2.Token{AccessToken: storedAccess, TokenType: "bearer", RefreshToken: storedRefresh, Expiry: expiry,
		ExpiresIn: 7200}).WithExtra(map[string]any{"scope": "users.read dm.write tweet.read offline.access"})
}

func newTestStore(t *testing.T, path string) *FileTokenStore {
	t.Helper()
	store, err := NewFileTokenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	return store
}

func TestFileTokenStoreSavesPrivatelyAndLoadsWhatItSaved(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config", "markread", "token.json")
	store := newTestStore(t, path)
	want := storedToken(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	if err := store.Save(context.Background(), want); err != nil {
		t.Fatal(err)
	}
	got, err := store.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got.AccessToken != want.AccessToken || got.RefreshToken != want.RefreshToken || got.TokenType != want.TokenType ||
		!got.Expiry.Equal(want.Expiry) || got.ExpiresIn != want.ExpiresIn || got.Extra("scope") != want.Extra("scope") {
		t.Error("the token loaded differs from the token saved")
	}

	// The file is what encoding/json writes for the *oauth2.Token, plus scope.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var members, tokenMembers map[string]any
	if err := json.Unmarshal(data, &members); err != nil {
		t.Fatal(err)
	}
	plain, _ := json.Marshal(want)
	if err := json.Unmarshal(plain, &tokenMembers); err != nil {
		t.Fatal(err)
	}
	tokenMembers["scope"] = want.Extra("scope")
	if !maps.EqualFunc(members, tokenMembers, func(a, b any) bool { return fmt.Sprint(a) == fmt.Sprint(b) }) {
		t.Errorf("the file's members are %v, want %v", slices.Sorted(maps.Keys(members)), slices.Sorted(maps.Keys(tokenMembers)))
	}

	if runtime.GOOS != "windows" {
		for _, c := range []struct {
			path string
			want os.FileMode
		}{{path, 0o600}, {filepath.Dir(path), 0o700}, {filepath.Dir(filepath.Dir(path)), 0o700}} {
			if info, err := os.Stat(c.path); err != nil || info.Mode().Perm() != c.want {
				t.Errorf("%s: mode %v, %v; want %04o", c.path, info.Mode().Perm(), err, c.want)
			}
		}
	}
}

func TestFileTokenStoreSaveMakesALoosenedFilePrivateAgain(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes mean little on Windows")
	}
	path := filepath.Join(t.TempDir(), "token.json")
	if err := os.WriteFile(path, []byte(`{"access_token":"old"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	store := newTestStore(t, path)
	if err := store.Save(context.Background(), storedToken(time.Time{})); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("mode after Save: %v, %v; want 0600", info.Mode().Perm(), err)
	}
	if _, err := store.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Save refuses a token that Load would refuse, without showing it, and leaves the file as it was: a
// file written anyway would stop every process's next Load.
func TestFileTokenStoreSaveRefusesWhatLoadWouldRefuse(t *testing.T) {
	huge := strings.Repeat("r", maxTokenFileBytes)
	for _, c := range []struct {
		name string
		tok  *oauth2.Token
		want string
	}{
		{"no token", &oauth2.Token{TokenType: "bearer"}, "it has neither an access token nor a refresh token"},
		{"too large", &oauth2.Token{AccessToken: storedAccess, RefreshToken: huge}, "no token a file can keep (over 64 KiB"},
		{"too large once escaped", &oauth2.Token{AccessToken: storedAccess, RefreshToken: strings.Repeat("<", maxTokenFileBytes/6)}, "over 64 KiB"},
		{"too large a scope", storedToken(time.Time{}).WithExtra(map[string]any{"scope": huge}), "over 64 KiB"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "token.json")
			store := newTestStore(t, path)
			old := storedToken(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
			if err := store.Save(context.Background(), old); err != nil {
				t.Fatal(err)
			}
			err := store.Save(context.Background(), c.tok)
			checkStoreError(t, err, storedAccess, storedRefresh, huge)
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %q, want it to name the file and say %q", err, c.want)
			}
			if got, err := store.Load(context.Background()); err != nil || got.RefreshToken != old.RefreshToken {
				t.Errorf("after the refused Save, Load gives %v: want the token saved before", err)
			}
		})
	}
}

// checkStoreError checks what every error of the store and its token source must be: one line, and none
// of the secrets, whatever the fmt verb.
func checkStoreError(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d", "%T %[1]v"} {
		text := fmt.Sprintf(verb, err)
		for _, secret := range secrets {
			if secret != "" && strings.Contains(text, secret) {
				t.Errorf("%s of the error shows a secret", verb)
			}
		}
	}
	text := err.Error()
	if strings.ContainsAny(text, "\r\n") {
		t.Errorf("the error is not one line: %q", text)
	}
	// This package adds no prefix of its own; a Client's error on this branch may still carry one.
	if strings.Count(text, "markread:") > 1 {
		t.Errorf("the error has a prefix more than once: %q", text)
	}
}

func TestFileTokenStoreExplainsEveryBadFile(t *testing.T) {
	dir := t.TempDir()
	valid := fmt.Sprintf(`{"access_token":%q,"refresh_token":%q}`, storedAccess, storedRefresh)
	cases := []struct {
		name    string
		make    func(path string) error
		want    string // in the error
		login   bool   // errors.Is(err, ErrLoginRequired)
		windows bool   // run on Windows too
	}{
		{"missing", func(string) error { return nil }, "no token stored in", true, true},
		{"directory", func(p string) error { return os.Mkdir(p, 0o700) }, "is not a regular file (d", false, true},
		{"empty", write(""), "cannot be read (EOF): if a newer markread wrote it, upgrade; else run markread login", false, true},
		{"corrupt", write(valid[:30]), "cannot be read (unexpected EOF)", false, true},
		{"not JSON", write("access_token=" + storedAccess), "cannot be read (invalid character", false, true},
		{"not an object", write(`["` + storedAccess + `"]`), "cannot be read (json: cannot unmarshal array", false, true},
		{"wrong type", write(`{"access_token":["` + storedAccess + `"]}`), `access_token of type string`, false, true},
		{"bad expiry", write(`{"access_token":"` + storedAccess + `","expiry":"tomorrow"}`), `cannot be read (parsing time`, false, true},
		{"no token", write(`{"token_type":"bearer"}`), "holds neither an access token nor a refresh token", false, true},
		{"null", write(`null`), "holds neither", false, true},
		{"newer version", write(`{"access_token":"a","dpop_key":"x"}`),
			`cannot be read (json: unknown field "dpop_key"): if a newer markread wrote it, upgrade`, false, true},
		{"too large", write(`{"access_token":"` + strings.Repeat("a", maxTokenFileBytes) + `"}`), "too large to be a token file", false, true},
		{"group-readable", writeMode(valid, 0o640), "can be read or changed by other users (mode 0640): chmod 600 it", false, false},
		{"world-writable", writeMode(valid, 0o602), "(mode 0602)", false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if runtime.GOOS == "windows" && !c.windows {
				t.Skip("file modes mean little on Windows")
			}
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".json")
			store := newTestStore(t, path)
			if err := c.make(path); err != nil {
				t.Fatal(err)
			}
			_, err := store.Load(context.Background())
			checkStoreError(t, err, storedAccess, storedRefresh)
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %q, want it to name the file and say %q", err, c.want)
			}
			if errors.Is(err, ErrLoginRequired) != c.login {
				t.Errorf("errors.Is(err, ErrLoginRequired) = %v, want %v", !c.login, c.login)
			}
			// The token source reports it when it is made, with the prefix once.
			_, err = NewFileTokenSource(context.Background(), &oauth2.Config{Endpoint: oauth2.Endpoint{TokenURL: "http://127.0.0.1:1/token"}}, path)
			checkStoreError(t, err, storedAccess, storedRefresh)
			if !strings.Contains(err.Error(), path) || errors.Is(err, ErrLoginRequired) != c.login {
				t.Errorf("NewFileTokenSource: err = %q, want it to name the file", err)
			}
		})
	}
}

func write(content string) func(path string) error {
	return func(path string) error { return os.WriteFile(path, []byte(content), 0o600) }
}

func writeMode(content string, mode os.FileMode) func(path string) error {
	return func(path string) error {
		if err := os.WriteFile(path, []byte(content), mode); err != nil {
			return err
		}
		return os.Chmod(path, mode) // whatever the umask
	}
}

func TestNewFileTokenStoreRefusesPathsThatCannotBeTokenFiles(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, want string }{
		{"", "empty path"},
		{dir, "is not a regular file (d"},
	} {
		_, err := NewFileTokenStore(c.path)
		checkStoreError(t, err)
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewFileTokenStore(%q): err = %q, want %q", c.path, err, c.want)
		}
	}
	// A path relative to the working directory is made absolute once, so that a later chdir cannot move it.
	store := newTestStore(t, "token.json")
	if !filepath.IsAbs(store.Path()) || filepath.Base(store.Path()) != "token.json" {
		t.Errorf("Path() = %q, want the absolute path", store.Path())
	}
}

func TestFileTokenStoreLockExcludesOtherHoldersUntilUnlocked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "token.json")
		// Two stores of one file lock it as two processes do: each has its own lock file descriptor.
		first, other := newTestStore(t, path), newTestStore(t, path)
		unlock, err := first.Lock(context.Background())
		if err != nil {
			t.Fatal(err)
		}

		// While it is held, neither the other store nor another goroutine of the first gets it.
		for _, store := range []*FileTokenStore{other, first} {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			start := time.Now()
			_, err := store.Lock(ctx)
			cancel()
			checkStoreError(t, err)
			if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), path) {
				t.Errorf("Lock while held: err = %q, want the deadline and the file named", err)
			}
			if waited := time.Since(start); waited != time.Minute {
				t.Errorf("Lock gave up after %v, want the context's minute", waited)
			}
		}

		// Once unlocked, the waiter gets it.
		got := make(chan error)
		go func() {
			unlockOther, err := other.Lock(context.Background())
			if err == nil {
				err = unlockOther()
			}
			got <- err
		}()
		synctest.Wait()
		select {
		case err := <-got:
			t.Fatalf("the other store took the lock while it was held (err %v)", err)
		default:
		}
		if err := unlock(); err != nil {
			t.Fatal(err)
		}
		if err := <-got; err != nil {
			t.Fatal(err)
		}
		if err := unlock(); err != nil {
			t.Errorf("a second unlock: %v, want nothing done", err)
		}
		if info, err := os.Stat(path + ".lock"); err != nil || runtime.GOOS != "windows" && info.Mode().Perm() != 0o600 {
			t.Errorf("lock file: %v, %v; want mode 0600", info, err)
		}
	})
}

func TestFileTokenStoreDeleteRemovesTheTokenAndLeavesTheLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token.json")
	store := newTestStore(t, path)
	unlock, err := store.Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Save(context.Background(), storedToken(time.Time{})); err != nil {
		t.Fatal(err)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	for range 2 { // a second Delete finds nothing to remove, and says nothing
		if err := store.Delete(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// The lock file stays: another process may hold or wait for the lock on it.
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 || entries[0].Name() != "token.json.lock" || !entries[0].Type().IsRegular() {
		t.Errorf("left after Delete: %v, want the lock file alone", entries)
	}
	if _, err := store.Load(context.Background()); !errors.Is(err, ErrLoginRequired) {
		t.Errorf("Load after Delete: %v, want ErrLoginRequired", err)
	}
}

// A process stuck while holding the lock holds up a logout for a minute at most, and the token stays.
func TestFileTokenStoreDeleteWaitsAMinuteAtMostForTheLock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "token.json")
		store := newTestStore(t, path)
		if err := store.Save(context.Background(), storedToken(time.Time{})); err != nil {
			t.Fatal(err)
		}
		unlock, err := newTestStore(t, path).Lock(context.Background()) // the stuck process
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = unlock() }()
		start := time.Now()
		err = store.Delete(context.Background())
		checkStoreError(t, err, storedAccess, storedRefresh)
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != lockWait || !strings.Contains(err.Error(), path) {
			t.Errorf("err = %q after %v, want the wait for the lock bounded at a minute, naming the file", err, time.Since(start))
		}
		if _, err := store.Load(context.Background()); err != nil {
			t.Errorf("the token is gone though Delete failed: %v", err)
		}
	})
}

// Logging out while a bot renews the token: Delete waits for the renewal, which holds the lock, and then
// removes what it saved; else the renewal would write the token back after the logout said it was gone.
func TestFileTokenStoreDeleteWaitsForARenewalUnderWay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "token.json")
		if err := newTestStore(t, path).Save(context.Background(), storedToken(time.Now().Add(-time.Hour))); err != nil {
			t.Fatal(err)
		}
		release := make(chan struct{})
		transport := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			<-release
			body := `{"access_token":"renewed-access-0123","refresh_token":"renewed-refresh-0123","token_type":"bearer","expires_in":7200}`
			return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
				Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
		})
		ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: transport})
		conf := &oauth2.Config{ClientID: "app", Endpoint: oauth2.Endpoint{TokenURL: "http://127.0.0.1/token"}}
		src, err := NewFileTokenSource(ctx, conf, path)
		if err != nil {
			t.Fatal(err)
		}
		renewed := make(chan error, 1)
		go func() { _, err := src.Token(); renewed <- err }()
		synctest.Wait() // the bot holds the lock and waits for the token endpoint

		logout := newTestStore(t, path) // markread logout, another process
		deleted := make(chan error, 1)
		go func() { deleted <- logout.Delete(context.Background()) }()
		synctest.Wait() // Delete is done, or waits for the lock
		close(release)
		if err := <-renewed; err != nil {
			t.Fatal(err)
		}
		if err := <-deleted; err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("after logout deleted the token file, a renewal under way wrote it again (Lstat: %v)", err)
		}
	})
}

// The helper processes of these tests are this test binary run again, told what to do by environment.
const (
	helperEnv     = "MARKREAD_TOKEN_TEST_HELPER"
	helperFileEnv = "MARKREAD_TOKEN_TEST_FILE"
	helperArgsEnv = "MARKREAD_TOKEN_TEST_ARGS"
)

// startHelper starts the helper process role with its input and output on pipes. It is killed if the
// test has not finished with it by the hang guard's deadline.
func startHelper(t *testing.T, ctx context.Context, role, path string, args any) (*exec.Cmd, *bufio.Reader, *os.File) {
	t.Helper()
	encoded, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestTokenHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+role, helperFileEnv+"="+path, helperArgsEnv+"="+string(encoded),
		// Under -race, a process otherwise sleeps a second as it exits, in case a goroutine races.
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdinRead, stdin, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdin = stdinRead
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_ = stdinRead.Close()
	t.Cleanup(func() { _ = stdin.Close() })
	return cmd, bufio.NewReader(stdout), stdin
}

// TestTokenHelperProcess is not a test: it is the helper processes' entry point.
func TestTokenHelperProcess(t *testing.T) {
	role := os.Getenv(helperEnv)
	if role == "" {
		t.Skip("the helper process of the token store's tests")
	}
	path, args := os.Getenv(helperFileEnv), []byte(os.Getenv(helperArgsEnv))
	var err error
	switch role {
	case "save-loop":
		err = helperSaveLoop(path, args)
	case "refresh":
		err = helperRefresh(path, args)
	default:
		err = fmt.Errorf("unknown helper role %q", role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// helperSaveLoop saves the given tokens in turn, for ever, saying on stdout once it has begun.
func helperSaveLoop(path string, args []byte) error {
	var tokens []*oauth2.Token
	if err := json.Unmarshal(args, &tokens); err != nil {
		return err
	}
	store, err := NewFileTokenStore(path)
	if err != nil {
		return err
	}
	fmt.Println("writing")
	for i := 0; ; i++ {
		if err := store.Save(context.Background(), tokens[i%len(tokens)]); err != nil {
			return err
		}
	}
}

func TestFileTokenStoreKilledMidWriteLeavesAUsableToken(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	tokens := []*oauth2.Token{
		{AccessToken: "killed-writer-a", RefreshToken: "refresh-a", TokenType: "bearer"},
		{AccessToken: "killed-writer-b", RefreshToken: "refresh-b", TokenType: "bearer"},
		{AccessToken: "killed-writer-c", RefreshToken: "refresh-c", TokenType: "bearer"},
	}
	fake := apitest.NewHandler(apitest.WithTokens("killed-writer-a", "killed-writer-b", "killed-writer-c"))
	path := filepath.Join(t.TempDir(), "token.json")
	store := newTestStore(t, path)
	if err := store.Save(context.Background(), tokens[0]); err != nil { // the old token
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang guard only
	defer cancel()
	for round := range 6 {
		cmd, stdout, _ := startHelper(t, ctx, "save-loop", path, tokens[1:])
		line, err := stdout.ReadString('\n')
		if line != "writing\n" {
			_ = cmd.Process.Kill()
			t.Fatalf("round %d: the writer said %q (%v), want it to say it is writing", round, line, err)
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err == nil {
			t.Fatalf("round %d: the writer exited by itself", round)
		}

		tok, err := store.Load(context.Background())
		if err != nil {
			t.Fatalf("round %d: the token file after the kill: %v", round, err)
		}
		whole := slices.ContainsFunc(tokens, func(w *oauth2.Token) bool {
			return tok.AccessToken == w.AccessToken && tok.RefreshToken == w.RefreshToken && tok.TokenType == w.TokenType
		})
		if !whole {
			t.Fatalf("round %d: the file holds a token that was never saved whole", round)
		}
		client := newInProcessClient(t, fake, WithTokenSource(oauth2.StaticTokenSource(tok)))
		if _, err := client.MarkConversationRead(context.Background(), "1-2", strconv.Itoa(round+1)); err != nil {
			t.Fatalf("round %d: the token left is not usable: %v", round, err)
		}
	}
}

// newInProcessClient returns a client of the fake X with no socket, for use inside a synctest bubble too.
func newInProcessClient(t *testing.T, fake *apitest.Handler, opts ...Option) *Client {
	t.Helper()
	c, err := NewClient(append([]Option{WithBaseURL("http://127.0.0.1"), WithHTTPClient(&http.Client{Transport: fake.Transport()})},
		opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTokenFileErrorsStayOnOneLineWhateverThePath(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows file names cannot hold a line break")
	}
	path := filepath.Join(t.TempDir(), "token\n\x1b[31mforged.json")
	_, err := newTestStore(t, path).Load(context.Background())
	checkStoreError(t, err)
	if !strings.Contains(err.Error(), `token\n\x1b[31mforged.json`) {
		t.Errorf("err = %q, want the path's line break and escape shown escaped", err)
	}
}

// Replace, as a login saves, waits for a renewal under way in another process instead of interleaving.
func TestFileTokenStoreReplaceWaitsForTheLock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "token.json")
		store, other := newTestStore(t, path), newTestStore(t, path)
		unlock, err := other.Lock(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- store.Replace(context.Background(), storedToken(time.Time{})) }()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("Replace returned (%v) while another held the lock", err)
		default:
		}
		if err := unlock(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if tok, err := store.Load(context.Background()); err != nil || tok.AccessToken != storedAccess {
			t.Errorf("after Replace: %v", err)
		}
		// And gives up after a minute when the lock stays held.
		unlock, err = other.Lock(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = unlock() }()
		err = store.Replace(context.Background(), storedToken(time.Time{}))
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "held the lock for over 1m0s") {
			t.Errorf("err = %v, want the wait bounded at a minute", err)
		}
	})
}
