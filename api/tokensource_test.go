package api

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/oauth2"

	"github.com/xchat-go/markread/api/apitest"
)

const (
	testClientID    = "token-source-test-app"
	testRedirectURI = "http://127.0.0.1:8080/callback"
)

// tokenFixture is the fake X playing the authorization server, a token it issued stored in a file,
// and the oauth2.Config and context a source of that file refreshes with, all without a socket.
type tokenFixture struct {
	fake  *apitest.Handler
	path  string
	store *FileTokenStore
	conf  *oauth2.Config
	ctx   context.Context
	first *oauth2.Token // the token stored
}

func newTokenFixture(t *testing.T, opts ...apitest.Option) *tokenFixture {
	t.Helper()
	fake := apitest.NewHandler(append([]apitest.Option{apitest.WithOAuthClient(testClientID, "", testRedirectURI)}, opts...)...)
	tok, err := fake.IssueToken(testClientID)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "markread", "token.json")
	store := newTestStore(t, path)
	if err := store.Save(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	return &tokenFixture{
		fake:  fake,
		path:  path,
		store: store,
		conf: &oauth2.Config{ClientID: testClientID,
			Endpoint: oauth2.Endpoint{TokenURL: "http://127.0.0.1" + apitest.TokenPath}},
		ctx:   context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: fake.Transport()}),
		first: tok,
	}
}

func (f *tokenFixture) source(t *testing.T) oauth2.TokenSource {
	t.Helper()
	ts, err := NewFileTokenSource(f.ctx, f.conf, f.path)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func mustToken(t *testing.T, ts oauth2.TokenSource) *oauth2.Token {
	t.Helper()
	tok, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestFileTokenSourceRefreshesAMinuteBeforeExpiryAndSavesFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newTokenFixture(t)
		ts := f.source(t)
		if tok := mustToken(t, ts); tok.AccessToken != f.first.AccessToken {
			t.Fatal("a fresh token was not handed out as stored")
		}
		time.Sleep(time.Until(f.first.Expiry) - maxRenewMargin - time.Second)
		if tok := mustToken(t, ts); tok.AccessToken != f.first.AccessToken || f.fake.RefreshRequests() != 0 {
			t.Fatalf("refreshed more than a minute before expiry (%d refresh requests)", f.fake.RefreshRequests())
		}

		time.Sleep(2 * time.Second)
		renewed := mustToken(t, ts)
		if renewed.AccessToken == f.first.AccessToken || f.fake.RefreshRequests() != 1 {
			t.Fatalf("not renewed within the minute before expiry (%d refresh requests)", f.fake.RefreshRequests())
		}
		saved, err := f.store.Load(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if saved.AccessToken != renewed.AccessToken || saved.RefreshToken == f.first.RefreshToken ||
			saved.RefreshToken == "" || !saved.Expiry.Equal(renewed.Expiry.Add(maxRenewMargin)) {
			t.Error("the file does not hold the renewed token with its rotated refresh token")
		}
		if saved.Extra("scope") != f.first.Extra("scope") || renewed.Extra("scope") != f.first.Extra("scope") {
			t.Errorf("scope after the refresh: saved %v, handed out %v; want %v", saved.Extra("scope"), renewed.Extra("scope"), f.first.Extra("scope"))
		}

		// The renewed token works, for the same user, and a restarted process takes it from the file.
		client := newInProcessClient(t, f.fake, WithTokenSource(ts))
		if _, err := client.MarkConversationRead(context.Background(), "1-2", "7"); err != nil {
			t.Fatal(err)
		}
		if seq, ok := f.fake.ReadState(f.first.AccessToken, "1-2"); !ok || seq != "7" {
			t.Errorf("the user's read state is %q, %v; want 7", seq, ok)
		}
		if tok := mustToken(t, f.source(t)); tok.AccessToken != renewed.AccessToken || f.fake.RefreshRequests() != 1 {
			t.Error("a new source did not take the renewed token from the file")
		}
	})
}

func TestStoreTokenSourceRefreshesOnceForEveryConcurrentCaller(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newTokenFixture(t)
		// Two sources of one file stand for two processes: each has its own store and lock descriptor.
		sources := []oauth2.TokenSource{f.source(t), f.source(t)}
		time.Sleep(time.Until(f.first.Expiry) - maxRenewMargin/2)

		var wg sync.WaitGroup
		got := make(chan string, 2*16)
		for _, ts := range sources {
			for range 16 {
				wg.Go(func() {
					tok, err := ts.Token()
					if err != nil {
						t.Error(err)
						return
					}
					got <- tok.AccessToken
				})
			}
		}
		wg.Wait()
		close(got)
		saved, err := f.store.Load(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for access := range got {
			n++
			if access != saved.AccessToken {
				t.Error("a caller got another access token than the renewed one")
			}
		}
		if n != 32 || f.fake.RefreshRequests() != 1 {
			t.Errorf("%d callers served with %d refresh requests, want 32 with 1", n, f.fake.RefreshRequests())
		}
	})
}

// helperRefresh is one process of TestFileTokenSourceRefreshesOnceAcrossProcesses: its goroutines wait
// until stdin says go, then each asks for a token and prints a digest of it (or its error).
func helperRefresh(path string, args []byte) error {
	var conf struct {
		TokenURL, ClientID string
		Goroutines         int
	}
	if err := json.Unmarshal(args, &conf); err != nil {
		return err
	}
	ts, err := NewFileTokenSource(context.Background(), &oauth2.Config{ClientID: conf.ClientID,
		Endpoint: oauth2.Endpoint{TokenURL: conf.TokenURL}}, path)
	if err != nil {
		return err
	}
	start := make(chan struct{})
	lines := make(chan string, conf.Goroutines)
	var wg sync.WaitGroup
	for range conf.Goroutines {
		wg.Go(func() {
			<-start
			tok, err := ts.Token()
			if err != nil {
				lines <- "error " + err.Error()
				return
			}
			lines <- "token " + digest(tok.AccessToken)
		})
	}
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return err
	}
	close(start)
	wg.Wait()
	close(lines)
	for line := range lines {
		fmt.Println(line)
	}
	return nil
}

// digest stands for a token in what a helper process prints.
func digest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:8])
}

func TestFileTokenSourceRefreshesOnceAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	const processes, goroutines = 2, 16
	x := apitest.NewServer(apitest.WithOAuthClient(testClientID, "", testRedirectURI))
	defer x.Close()
	tok, err := x.IssueToken(testClientID)
	if err != nil {
		t.Fatal(err)
	}
	// Stored as it expires: its access token has half the refresh margin left.
	tok.Expiry = time.Now().Add(maxRenewMargin / 2)
	path := filepath.Join(t.TempDir(), "token.json")
	store := newTestStore(t, path)
	if err := store.Save(context.Background(), tok); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang guard only
	defer cancel()
	args := map[string]any{"TokenURL": x.URL + apitest.TokenPath, "ClientID": testClientID, "Goroutines": goroutines}
	type helper struct {
		wait   func() error
		stdout *bufio.Reader
		stdin  *os.File
	}
	var helpers []helper
	for range processes {
		cmd, stdout, stdin := startHelper(t, ctx, "refresh", path, args)
		helpers = append(helpers, helper{cmd.Wait, stdout, stdin})
	}
	// The barrier: every goroutine of both processes is waiting before any asks.
	for i, h := range helpers {
		if line, err := h.stdout.ReadString('\n'); line != "ready\n" {
			t.Fatalf("process %d said %q (%v), want ready", i, line, err)
		}
	}
	for _, h := range helpers {
		if _, err := h.stdin.WriteString("go\n"); err != nil {
			t.Fatal(err)
		}
	}
	var lines []string
	for i, h := range helpers {
		for {
			line, err := h.stdout.ReadString('\n')
			if err != nil {
				break
			}
			lines = append(lines, strings.TrimSpace(line))
		}
		if err := h.wait(); err != nil {
			t.Fatalf("process %d: %v", i, err)
		}
	}

	saved, err := store.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if saved.AccessToken == tok.AccessToken {
		t.Fatal("the token in the file was not renewed")
	}
	renewed := 0
	for _, line := range lines {
		switch {
		case line == "token "+digest(saved.AccessToken):
			renewed++
		case strings.HasPrefix(line, "error "):
			t.Errorf("a caller failed: %s", strings.TrimPrefix(line, "error "))
		default:
			t.Error("a caller got another access token than the one saved")
		}
	}
	if renewed != processes*goroutines || x.RefreshRequests() != 1 {
		t.Errorf("%d of %d callers got the renewed token, with %d refresh requests; want all, with 1",
			renewed, processes*goroutines, x.RefreshRequests())
	}
}

func TestStoreTokenSourceNeedsALoginWhenTheTokenCannotBeRenewed(t *testing.T) {
	t.Run("refresh token revoked", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := newTokenFixture(t)
			ts := f.source(t)
			f.fake.RevokeRefreshTokens()
			time.Sleep(time.Until(f.first.Expiry))
			for range 2 {
				_, err := ts.Token()
				checkStoreError(t, err, f.first.AccessToken, f.first.RefreshToken)
				if !errors.Is(err, ErrLoginRequired) || !strings.Contains(err.Error(), f.path) ||
					!strings.Contains(err.Error(), "run markread login") {
					t.Errorf("err = %q, want ErrLoginRequired naming the file and saying to log in", err)
				}
			}
			if n := f.fake.RefreshRequests(); n != 1 {
				t.Errorf("%d refresh requests, want 1: a refused refresh token is not sent again", n)
			}

			// A new login carries on where the refused one stopped.
			fresh, err := f.fake.IssueToken(testClientID)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.store.Save(context.Background(), fresh); err != nil {
				t.Fatal(err)
			}
			if tok := mustToken(t, ts); tok.AccessToken != fresh.AccessToken {
				t.Error("the source did not take the token of the new login")
			}
		})
	})
	t.Run("the refusal is reachable and the Client says it once", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := newTokenFixture(t)
			ts := f.source(t)
			f.fake.RevokeRefreshTokens()
			time.Sleep(time.Until(f.first.Expiry))
			_, err := newInProcessClient(t, f.fake, WithTokenSource(ts)).MarkConversationRead(context.Background(), "1-2", "3")
			checkStoreError(t, err, f.first.AccessToken, f.first.RefreshToken)
			if !errors.Is(err, ErrNoToken) || !errors.Is(err, ErrLoginRequired) {
				t.Errorf("err = %q, want ErrNoToken and ErrLoginRequired", err)
			}
		})
	})
	t.Run("expired without refresh token", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := newTokenFixture(t)
			noRefresh := *f.first
			noRefresh.RefreshToken = ""
			if err := f.store.Save(context.Background(), &noRefresh); err != nil {
				t.Fatal(err)
			}
			ts := f.source(t)
			time.Sleep(time.Until(f.first.Expiry))
			_, err := ts.Token()
			checkStoreError(t, err, f.first.AccessToken)
			if !errors.Is(err, ErrLoginRequired) || !strings.Contains(err.Error(), "no refresh token") ||
				!strings.Contains(err.Error(), f.path) || f.fake.RefreshRequests() != 0 {
				t.Errorf("err = %q after %d refresh requests, want ErrLoginRequired naming the file, and none", err, f.fake.RefreshRequests())
			}
		})
	})
	t.Run("logged out meanwhile", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := newTokenFixture(t)
			ts := f.source(t)
			if err := f.store.Delete(context.Background()); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Until(f.first.Expiry))
			_, err := ts.Token()
			checkStoreError(t, err, f.first.AccessToken, f.first.RefreshToken)
			if !errors.Is(err, ErrLoginRequired) || !strings.Contains(err.Error(), f.path) {
				t.Errorf("err = %q, want ErrLoginRequired naming the file", err)
			}
		})
	})
}

// Secrets a hostile token endpoint is sent and echoes back.
const hostileClientSecret = "hostile-test-client-secret-51f0"

func TestStoreTokenSourceShowsNothingAHostileTokenEndpointEchoes(t *testing.T) {
	refresh := storedRefresh
	basic := base64.StdEncoding.EncodeToString([]byte("hostile-app:" + hostileClientSecret))
	secrets := []string{storedAccess, storedRefresh, hostileClientSecret, basic}
	escaped := url.QueryEscape(refresh + " " + hostileClientSecret)
	cases := []struct {
		name   string
		answer http.HandlerFunc
		want   string
	}{
		{"as the error code", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"error":%q,"error_description":%q}`, r.PostFormValue("refresh_token"), hostileClientSecret+" "+refresh)
		}, "answered HTTP 400 [REDACTED]"},
		{"the Basic credential as the error code", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"error":%q}`, r.Header.Get("Authorization"))
		}, "answered HTTP 401 Basic [REDACTED]"},
		{"a secret of an error code's shape as the error code", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"error":%q}`, "invalid_request_"+hostileClientSecret)
		}, "answered HTTP 400 invalid_request_[REDACTED]"},
		{"in the body", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintf(w, "refresh_token=%s client_secret=%s\n\x1b[2J", refresh, hostileClientSecret)
		}, "answered HTTP 500"},
		{"form-encoded", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, "error=invalid_request&error_description=%s", escaped)
		}, "answered HTTP 400 invalid_request"},
		{"as a 200 that is not a token", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"access_token":{"echo":%q}}`, refresh)
		}, "the token endpoint at http://127.0.0.1: oauth2: "},
		{"in a redirect's target", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://echo.invalid/?rt="+refresh+"&s="+escaped, http.StatusTemporaryRedirect)
		}, "answered HTTP 307"},
		{"the Basic credential in a redirect's target", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://echo.invalid/"+strings.TrimPrefix(r.Header.Get("Authorization"), "Basic "), http.StatusPermanentRedirect)
		}, "answered HTTP 308"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "token.json")
			store := newTestStore(t, path)
			if err := store.Save(context.Background(), storedToken(time.Now().Add(-time.Hour))); err != nil {
				t.Fatal(err)
			}
			endpoint := apitest.InProcess(c.answer)
			transport := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				if r.URL.Host == "echo.invalid" {
					t.Error("a redirect took the refresh request to another origin")
					return nil, errors.New("no such host")
				}
				if user, pass, ok := r.BasicAuth(); !ok || user != "hostile-app" || pass != hostileClientSecret {
					t.Error("a confidential client did not authenticate with HTTP Basic")
				}
				return endpoint.RoundTrip(r)
			})
			ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: transport})
			conf := &oauth2.Config{ClientID: "hostile-app", ClientSecret: hostileClientSecret,
				Endpoint: oauth2.Endpoint{TokenURL: "http://127.0.0.1/2/oauth2/token"}}
			ts, err := NewStoreTokenSource(ctx, conf, store)
			if err != nil {
				t.Fatal(err)
			}
			_, err = ts.Token()
			checkStoreError(t, err, secrets...)
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("err = %q, want it to name the file and say %q", err, c.want)
			}

			if errors.Is(err, ErrLoginRequired) || errors.Is(err, ErrClientRefused) != strings.Contains(c.want, "HTTP 401") {
				t.Errorf("err = %q: ErrLoginRequired or ErrClientRefused where the endpoint did not refuse the credentials", err)
			}

			// Through a Client, with the Client's own words around it.
			client := newInProcessClient(t, apitest.NewHandler(), WithTokenSource(ts), WithMaxRetries(0))
			_, err = client.MarkConversationRead(context.Background(), "1-2", "3")
			checkStoreError(t, err, secrets...)
			if !errors.Is(err, ErrNoToken) {
				t.Errorf("the Client's err = %q, want ErrNoToken", err)
			}
			if text := fmt.Sprintf("%v %+v %#v %d", ts, ts, ts, ts); strings.Contains(text, storedAccess) ||
				strings.Contains(text, hostileClientSecret) {
				t.Errorf("the source prints as %q: want no secret", text)
			}
		})
	}
}

// failOnceStore is a FileTokenStore whose first Save fails, as a full disk would.
type failOnceStore struct {
	*FileTokenStore
	failed bool
}

func (s *failOnceStore) Save(ctx context.Context, tok *oauth2.Token) error {
	if !s.failed {
		s.failed = true
		return errors.New("no space left on device")
	}
	return s.FileTokenStore.Save(ctx, tok)
}

func TestStoreTokenSourceKeepsARenewedTokenItCouldNotSave(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newTokenFixture(t)
		store := &failOnceStore{FileTokenStore: f.store}
		ts, err := NewStoreTokenSource(f.ctx, f.conf, store)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Until(f.first.Expiry))
		_, err = ts.Token()
		checkStoreError(t, err, f.first.RefreshToken)
		if !strings.Contains(err.Error(), "renewed but could not be saved") || !strings.Contains(err.Error(), "no space left") {
			t.Fatalf("err = %q, want the failed save", err)
		}
		// The next call saves the token it kept, whose refresh token is the only valid one, before handing it out.
		tok := mustToken(t, ts)
		saved, err := f.store.Load(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if saved.AccessToken != tok.AccessToken || tok.AccessToken == f.first.AccessToken || f.fake.RefreshRequests() != 1 {
			t.Errorf("after %d refresh requests the file does not hold the token handed out", f.fake.RefreshRequests())
		}
		// And it still renews: its refresh token was not spent twice.
		time.Sleep(time.Until(tok.Expiry))
		if next := mustToken(t, ts); next.AccessToken == tok.AccessToken || f.fake.RefreshRequests() != 2 {
			t.Error("the saved token did not renew")
		}
	})
}

func TestStoreTokenSourceWaitsAMinuteAtMostForAnotherProcess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newTokenFixture(t)
		ts := f.source(t)
		stuck := newTestStore(t, f.path) // another process, stuck while holding the lock
		unlock, err := stuck.Lock(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Until(f.first.Expiry))
		start := time.Now()
		_, err = ts.Token()
		checkStoreError(t, err, f.first.RefreshToken)
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != lockWait ||
			!strings.Contains(err.Error(), "renewing the token in "+f.path+": another process has held the lock for over 1m0s") {
			t.Errorf("err = %q after %v, want the wait for another process bounded at a minute", err, time.Since(start))
		}
		if err := unlock(); err != nil {
			t.Fatal(err)
		}
		if tok := mustToken(t, ts); tok.AccessToken == f.first.AccessToken {
			t.Error("not renewed once the lock was free")
		}
	})
}

// The source's context ends (a command's --timeout, a bot's shutdown) while X's answer to a refresh is
// on its way: X has rotated the refresh token already, so the answer is waited for and saved all the
// same; else the file keeps a spent refresh token and the next run needs a person to log in again.
func TestStoreTokenSourceSavesARenewalItsContextEndedDuring(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newTokenFixture(t)
		time.Sleep(time.Until(f.first.Expiry))
		slowX := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			resp, err := f.fake.Transport().RoundTrip(r) // X rotates the refresh token here
			select {
			case <-time.After(2 * time.Second):
				return resp, err
			case <-r.Context().Done():
				return nil, r.Context().Err()
			}
		})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second) // over before X's answer comes
		defer cancel()
		ts, err := NewFileTokenSource(context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Transport: slowX}), f.conf, f.path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ts.Token(); err != nil {
			t.Errorf("the renewal under way when the context ended: %v", err)
		}

		next := mustToken(t, f.source(t)) // the next run
		if next.AccessToken == f.first.AccessToken || f.fake.RefreshRequests() != 1 {
			t.Errorf("the next run did not find the renewed token saved (%d refresh requests)", f.fake.RefreshRequests())
		}
	})
}

// A token endpoint that takes the request and never answers, under a context that never ends (as a bot
// has it): the refresh gives up after refreshLimit, saying so, and lets go of the lock; else every other
// process's refresh would fail for good, each after a minute's wait.
func TestStoreTokenSourceGivesUpOnATokenEndpointThatNeverAnswers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newTokenFixture(t)
		time.Sleep(time.Until(f.first.Expiry))
		silent := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			<-r.Context().Done()
			return nil, r.Context().Err()
		})
		ctx, stop := context.WithCancel(context.Background())
		defer stop()
		ts, err := NewFileTokenSource(context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Transport: silent}), f.conf, f.path)
		if err != nil {
			t.Fatal(err)
		}
		type outcome struct {
			err   error
			after time.Duration
		}
		done := make(chan outcome, 1)
		start := time.Now()
		go func() { _, err := ts.Token(); done <- outcome{err, time.Since(start)} }()
		time.Sleep(time.Hour)
		var got outcome
		select {
		case got = <-done:
		default:
			t.Error("Token still waits for a silent token endpoint after an hour")
			stop()
			<-done
			return
		}
		checkStoreError(t, got.err, f.first.RefreshToken)
		if got.after != refreshLimit || !errors.Is(got.err, context.DeadlineExceeded) ||
			!strings.Contains(got.err.Error(), "did not answer within 30s") || !strings.Contains(got.err.Error(), f.path) {
			t.Errorf("err = %q after %v, want the refresh given up after %v, saying so and naming the file", got.err, got.after, refreshLimit)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		unlock, err := newTestStore(t, f.path).Lock(ctx)
		if err != nil {
			t.Fatalf("the lock is still held after the refresh gave up: %v", err)
		}
		_ = unlock()
	})
}

func TestNewStoreTokenSourceRefusesWhatItCannotUse(t *testing.T) {
	store := newTestStore(t, filepath.Join(t.TempDir(), "token.json"))
	conf := &oauth2.Config{Endpoint: oauth2.Endpoint{TokenURL: "http://127.0.0.1/token"}}
	for _, c := range []struct {
		name  string
		ctx   context.Context
		conf  *oauth2.Config
		store TokenStore
		want  string
	}{
		{"no token URL", context.Background(), &oauth2.Config{}, store, "no Endpoint.TokenURL"},
		{"nothing stored", context.Background(), conf, store, "no token stored in"},
	} {
		_, err := NewStoreTokenSource(c.ctx, c.conf, c.store)
		checkStoreError(t, err)
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %q, want %q", c.name, err, c.want)
		}
	}
}

// A token URL's query may carry a credential (an API gateway's key). When the refresh request fails
// before an answer, the transport's error quotes the whole URL, and a caller's transport may quote it
// too: the error names the endpoint's origin only, and the cause stays reachable.
func TestStoreTokenSourceNamesOnlyTheTokenEndpointsOriginWhenItsRequestFails(t *testing.T) {
	const key = "gateway-key-9f3a1c"
	for name, fail := range map[string]func(*http.Request) error{
		"a plain transport error": func(*http.Request) error { return errors.New("connection refused") },
		"one that quotes the URL": func(r *http.Request) error { return fmt.Errorf("proxy refused %s", r.URL) },
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "token.json")
			if err := newTestStore(t, path).Save(context.Background(), storedToken(time.Now().Add(-time.Hour))); err != nil {
				t.Fatal(err)
			}
			failing := roundTripFunc(func(r *http.Request) (*http.Response, error) { return nil, fail(r) })
			ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: failing})
			conf := &oauth2.Config{ClientID: testClientID,
				Endpoint: oauth2.Endpoint{TokenURL: "https://gateway.example/2/oauth2/token?api_key=" + key}}
			ts, err := NewFileTokenSource(ctx, conf, path)
			if err != nil {
				t.Fatal(err)
			}
			_, err = ts.Token()
			checkStoreError(t, err, key, storedRefresh)
			if !strings.Contains(err.Error(), "the token endpoint at https://gateway.example: ") {
				t.Errorf("err = %q, want the endpoint's origin named", err)
			}
			_, err = newInProcessClient(t, apitest.NewHandler(), WithTokenSource(ts), WithMaxRetries(0)).MarkConversationRead(context.Background(), "1-2", "3")
			checkStoreError(t, err, key, storedRefresh)
			if !errors.Is(err, ErrNoToken) {
				t.Errorf("the Client's err = %q, want ErrNoToken", err)
			}
		})
	}
}

// A renewal that could not be saved is saved on the next call only while the store still holds the
// refresh token it spent. A login meanwhile (another grant, here with another scope) stays: the unsaved
// renewal is dropped, and the source renews the login's token when it expires.
func TestStoreTokenSourceDropsAnUnsavedRenewalWhenANewerLoginIsStored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newTokenFixture(t)
		ts, err := NewStoreTokenSource(f.ctx, f.conf, &failOnceStore{FileTokenStore: f.store})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Until(f.first.Expiry))
		if _, err := ts.Token(); err == nil {
			t.Fatal("the renewal was saved although the store failed")
		}

		login, err := f.fake.IssueToken(testClientID, "users.read", "dm.write", "tweet.read", "offline.access", "like.read")
		if err != nil {
			t.Fatal(err)
		}
		unlock, err := f.store.Lock(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := f.store.Save(context.Background(), login); err != nil {
			t.Fatal(err)
		}
		if err := unlock(); err != nil {
			t.Fatal(err)
		}

		time.Sleep(time.Until(login.Expiry)) // the source is not asked again until the login's token expires
		renewed := mustToken(t, ts)
		stored, err := f.store.Load(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if scope, _ := stored.Extra("scope").(string); !strings.Contains(scope, "like.read") ||
			stored.AccessToken != renewed.AccessToken || renewed.AccessToken == login.AccessToken {
			t.Errorf("after the next renewal the store holds scopes %q, want the login's renewed", scope)
		}
	})
}

// A token endpoint that answers with a token no token file could hold (a broken one): the store refuses
// it, the call fails saying so without showing it, and the store keeps the token it had.
func TestStoreTokenSourceRefusesAnAnswerNoTokenFileCouldHold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "token.json")
		store := newTestStore(t, path)
		old := storedToken(time.Now().Add(-time.Hour))
		if err := store.Save(context.Background(), old); err != nil {
			t.Fatal(err)
		}
		const newAccess = "huge-answers-access-token-0123"
		huge := strings.Repeat("r", 80<<10)
		endpoint := apitest.InProcess(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"access_token":%q,"refresh_token":%q,"token_type":"bearer","expires_in":7200}`, newAccess, huge)
		}))
		ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: endpoint})
		conf := &oauth2.Config{ClientID: testClientID, Endpoint: oauth2.Endpoint{TokenURL: "http://127.0.0.1/2/oauth2/token"}}
		ts, err := NewStoreTokenSource(ctx, conf, store)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			tok, err := ts.Token()
			checkStoreError(t, err, storedRefresh, newAccess, huge)
			if tok != nil || !strings.Contains(err.Error(), "renewed but could not be saved") ||
				!strings.Contains(err.Error(), "no token a file can keep (over 64 KiB") || !strings.Contains(err.Error(), path) {
				t.Errorf("err = %q, want the answer refused, naming the file", err)
			}
		}
		if got, err := store.Load(context.Background()); err != nil || got.RefreshToken != old.RefreshToken {
			t.Errorf("after the refused answer, Load gives %v: want the token stored before", err)
		}
	})
}

// A renewal's scope is the endpoint's text, saved and shown by markread token: an echo of a secret of the
// exchange is replaced before it is saved.
func TestStoreTokenSourceSavesNoSecretEchoedInTheScope(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token.json")
	store := newTestStore(t, path)
	if err := store.Save(context.Background(), storedToken(time.Now().Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	endpoint := apitest.InProcess(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, secret, _ := r.BasicAuth()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"fresh-access-0123","refresh_token":"fresh-refresh-4567","token_type":"bearer",`+
			`"expires_in":7200,"scope":"dm.write %s %s %s"}`, secret, r.PostFormValue("refresh_token"), r.Header.Get("Authorization"))
	}))
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: endpoint})
	conf := &oauth2.Config{ClientID: "hostile-app", ClientSecret: hostileClientSecret,
		Endpoint: oauth2.Endpoint{TokenURL: "http://127.0.0.1/2/oauth2/token"}}
	ts, err := NewStoreTokenSource(ctx, conf, store)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Token(); err != nil {
		t.Fatal(err)
	}
	saved, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if text := string(saved); strings.Contains(text, hostileClientSecret) || !strings.Contains(text, `"scope":"dm.write [REDACTED]`) ||
		strings.Count(text, storedRefresh) != 0 {
		t.Errorf("the saved token's scope keeps a secret of the exchange, or lost its scope")
	}
}

// A token that lives 5 seconds (markread serve --token-lifetime 5s) is renewed a quarter of its lifetime
// before it expires, not on every call: 900 calls over 90 seconds make about 90 / 3.75 = 24 renewals.
// With the fixed minute margin, each of the 900 renewed.
func TestStoreTokenSourceRenewsAShortLivedTokenByItsLifetime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newTokenFixture(t, apitest.WithAccessTokenLifetime(5*time.Second))
		ts := f.source(t)
		for range 900 {
			tok := mustToken(t, ts)
			saved, err := f.store.Load(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if saved.AccessToken != tok.AccessToken || !time.Now().Before(saved.Expiry.Add(-time.Second)) {
				t.Fatal("handed out a token that is not the stored one, or that expires within a second")
			}
			time.Sleep(100 * time.Millisecond)
		}
		if n := f.fake.RefreshRequests(); n < 20 || n > 25 {
			t.Errorf("%d renewals for 900 calls over 90 s of a 5 s token, want about 24", n)
		}
	})
}
