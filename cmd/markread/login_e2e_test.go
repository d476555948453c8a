package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/xchat-go/markread/api"
	"github.com/xchat-go/markread/api/apitest"
)

// fakeBrowserEnv makes the test binary play the browser when markread login runs it as $BROWSER: "follow"
// GETs the URL and follows X's redirect to login's listener, as a browser whose user approves does.
const fakeBrowserEnv = "MARKREAD_TEST_FAKE_BROWSER"

func playBrowser(mode, rawURL string) int {
	if mode != "follow" {
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a hang guard only
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return 1
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 1
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 1
	}
	return 0
}

// freeRedirectURI is a redirect URI on a loopback port that was free a moment ago.
func freeRedirectURI(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return "http://" + ln.Addr().String() + "/callback"
}

// storedToken reads the token file's two secrets, for the test to compare and to look for in output.
func readStoredToken(t *testing.T, path string) (access, refresh string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(data, &tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("the token file does not hold a token: %v", err)
	}
	return tok.AccessToken, tok.RefreshToken
}

// noSecrets fails the test if any output shows any secret.
func noSecrets(t *testing.T, outputs []string, secrets ...string) {
	t.Helper()
	for _, out := range outputs {
		for _, secret := range secrets {
			if secret != "" && strings.Contains(out, secret) {
				t.Errorf("output shows a secret (%d characters), masked here: %q", len(secret), strings.ReplaceAll(out, secret, "[SECRET]"))
			}
		}
	}
}

// The whole life of a login, as a person goes through it, against markread serve: login (the browser
// is the test binary), token, marks with the stored token that renew it, logout.
// expireStoredToken makes the token in path expire, so that the next mark renews it.
func expireStoredToken(t *testing.T, path string) {
	t.Helper()
	store, err := api.NewFileTokenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := store.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tok.Expiry = time.Now().Add(-time.Minute)
	if err := store.Save(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
}

func TestLoginEndToEndAgainstServe(t *testing.T) {
	const clientID, clientSecret = "e2e-app", "e2e-client-secret-7c1d9e"
	redirect := freeRedirectURI(t)
	srv := startServe(t, []string{"X_CLIENT_SECRET=" + clientSecret}, "--client-id", clientID, "--redirect-uri", redirect)
	config := t.TempDir()
	env := []string{"XDG_CONFIG_HOME=" + config, "HOME=" + config, "AppData=" + config,
		"X_CLIENT_ID=" + clientID, "X_CLIENT_SECRET=" + clientSecret, "X_API_BASE_URL=" + srv.url,
		"MARKREAD_AUTH_URL=" + srv.url + apitest.AuthorizePath, "MARKREAD_TOKEN_URL=" + srv.url + apitest.TokenPath}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var outputs []string
	run := func(env []string, args ...string) result {
		r := markread(t, env, args...)
		outputs = append(outputs, r.stdout, r.stderr)
		return r
	}

	r := run(append(env, "BROWSER="+self, fakeBrowserEnv+"=follow"), "login", "--redirect-uri", redirect)
	tokenFile := filepath.Join(config, "markread", "token.json")
	if r.code != exitOK || !strings.Contains(r.stdout, "logged in; the token is kept in "+tokenFile) {
		t.Fatalf("login: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "(in 2h)\n") { // the expiry as a person reads it
		t.Errorf("login's stdout %q does not say the token expires in 2h", r.stdout)
	}
	if !strings.Contains(r.stderr, "\n  "+srv.url+apitest.AuthorizePath+"?") {
		t.Errorf("login did not print the URL to open: %q", r.stderr)
	}
	if info, err := os.Stat(tokenFile); err != nil || runtime.GOOS != "windows" && info.Mode().Perm() != 0o600 {
		t.Errorf("token file: %v, %v; want mode 0600", info, err)
	}
	access, refresh := readStoredToken(t, tokenFile)

	r = run(env, "token")
	for _, want := range []string{"a token is stored in " + tokenFile, "expires at", "refresh token: yes", "scopes: users.read dm.write tweet.read offline.access"} {
		if r.code != exitOK || !strings.Contains(r.stdout, want) {
			t.Errorf("token: exit %d, stdout %q; want it to say %q", r.code, r.stdout, want)
		}
	}

	// No credentials given: the stored token, renewed on the way (as if two hours had passed).
	expireStoredToken(t, tokenFile)
	if r = run(env, "g1", "5"); r.code != exitOK || !strings.Contains(r.stdout, "marked g1 read up to 5") {
		t.Fatalf("mark with the stored token: exit %d, stderr %q", r.code, r.stderr)
	}
	renewedAccess, renewedRefresh := readStoredToken(t, tokenFile)
	if renewedAccess == access || renewedRefresh == refresh {
		t.Error("the mark did not renew the token, or did not save the renewed one")
	}
	// The same file given with --token-file.
	expireStoredToken(t, tokenFile)
	if r = run(env, "--token-file", tokenFile, "g1", "6"); r.code != exitOK {
		t.Fatalf("mark with --token-file: exit %d, stderr %q", r.code, r.stderr)
	}
	lastAccess, lastRefresh := readStoredToken(t, tokenFile)

	if r = run(env, "logout"); r.code != exitOK || !strings.Contains(r.stdout, "logged out: deleted "+tokenFile) {
		t.Errorf("logout: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(tokenFile); !os.IsNotExist(err) {
		t.Errorf("the token file is still there after logout: %v", err)
	}
	if r = run(env, "token"); r.code != exitAuth || !strings.Contains(r.stderr, "markread login") {
		t.Errorf("token after logout: exit %d, stderr %q; want 3 saying to log in", r.code, r.stderr)
	}
	if r = run(env, "g1", "7"); r.code != exitUsage || !strings.Contains(r.stderr, "no credentials") || !strings.Contains(r.stderr, "markread login") {
		t.Errorf("mark after logout: exit %d, stderr %q; want 2 saying to log in", r.code, r.stderr)
	}

	stdout, stderr := srv.stop(t)
	if n := strings.Count(stderr, `POST "/2/oauth2/token" → 200`); n != 3 {
		t.Errorf("serve answered %d token requests, want 3 (the login and two renewals):\n%s", n, stderr)
	}
	if !strings.Contains(stderr, "MARKREAD_AUTH_URL="+srv.url+apitest.AuthorizePath) {
		t.Errorf("serve did not say which MARKREAD_AUTH_URL to set: %q", stderr)
	}
	outputs = append(outputs, stdout, stderr)
	noSecrets(t, outputs, clientSecret, access, refresh, renewedAccess, renewedRefresh, lastAccess, lastRefresh)
}

// urlWatcher keeps what login writes to stderr and hands over the URL it prints to open.
type urlWatcher struct {
	lockedBuffer
	found chan string
	sent  bool
}

func (w *urlWatcher) Write(p []byte) (int, error) {
	n, err := w.lockedBuffer.Write(p)
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.sent {
		for _, line := range strings.SplitAfter(w.buf.String(), "\n") {
			if strings.HasPrefix(line, "  http") && strings.HasSuffix(line, "\n") {
				w.found <- strings.TrimSpace(line)
				w.sent = true
				break
			}
		}
	}
	return n, err
}

// loginRun is markread login running in-process.
type loginRun struct {
	stdout lockedBuffer
	stderr *urlWatcher
	done   chan int
}

func startLogin(t *testing.T, env map[string]string, stdin io.Reader, args ...string) *loginRun {
	t.Helper()
	l := &loginRun{stderr: &urlWatcher{found: make(chan string, 1)}, done: make(chan int, 1)}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a hang guard only
	t.Cleanup(cancel)
	go func() {
		l.done <- exit(runLogin(ctx, args, func(k string) string { return env[k] }, stdin, &l.stdout, l.stderr), l.stderr)
	}()
	return l
}

// authURL waits for the URL login prints.
func (l *loginRun) authURL(t *testing.T) string {
	t.Helper()
	select {
	case u := <-l.stderr.found:
		return u
	case code := <-l.done:
		t.Fatalf("login exited %d before printing the URL: %s", code, l.stderr.String())
		return ""
	}
}

func (l *loginRun) wait() int { return <-l.done }

// approve plays the browser of a user who approves: it asks for the authorize URL and returns where X
// sends the browser back, without going there.
func approve(t *testing.T, authURL string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a hang guard only
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	location := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || location == "" {
		t.Fatalf("authorize: status %d, Location %q; want a redirect", resp.StatusCode, location)
	}
	return location
}

func oauthEnv(srv *apitest.Server, clientID string) map[string]string {
	return map[string]string{
		"X_CLIENT_ID":        clientID,
		"MARKREAD_AUTH_URL":  srv.URL + apitest.AuthorizePath,
		"MARKREAD_TOKEN_URL": srv.URL + apitest.TokenPath,
		"X_API_BASE_URL":     srv.URL,
	}
}

// --headless: the person pastes the address X sent the browser to; then the stored token marks.
func TestLoginHeadless(t *testing.T) {
	srv := apitest.NewServer(apitest.WithOAuthClient("public-app", "", defaultRedirectURI))
	defer srv.Close()
	env := oauthEnv(srv, "public-app")
	tokenFile := filepath.Join(t.TempDir(), "token.json")
	stdin, typing := io.Pipe()
	defer typing.Close()

	login := startLogin(t, env, stdin, "--headless", "--token-file", tokenFile)
	location := approve(t, login.authURL(t))
	if _, err := fmt.Fprintln(typing, location); err != nil {
		t.Fatal(err)
	}
	if code := login.wait(); code != exitOK {
		t.Fatalf("login --headless: exit %d: %s", code, login.stderr.String())
	}
	if !strings.Contains(login.stderr.String(), "paste") {
		t.Errorf("login --headless did not ask for the address: %q", login.stderr.String())
	}

	tok, err := loadToken(t, tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken == "" || tok.Extra("scope") != "users.read dm.write tweet.read offline.access" {
		t.Errorf("stored token: refresh token %v, scope %v", tok.RefreshToken != "", tok.Extra("scope"))
	}
	code, stdout, stderr := runMarkread(t, env, "--token-file", tokenFile, "g1", "5")
	if code != exitOK {
		t.Fatalf("mark with the stored token: exit %d: %s", code, stderr)
	}
	if seq, _ := srv.ReadState(tok.AccessToken, "g1"); seq != "5" {
		t.Errorf("server state %q, want 5", seq)
	}
	pasted, _ := url.Parse(location)
	noSecrets(t, []string{login.stdout.String(), login.stderr.String(), stdout, stderr},
		pasted.Query().Get("code"), tok.AccessToken, tok.RefreshToken)
}

func loadToken(t *testing.T, path string) (*oauth2.Token, error) {
	t.Helper()
	store, err := api.NewFileTokenStore(path)
	if err != nil {
		return nil, err
	}
	return store.Load(context.Background())
}

// A redirect with another state than the login sent is not X's answer: it gets an error page, its code is
// neither exchanged nor saved, and the login waits on for X's answer, which logs in.
func TestLoginRefusesAForgedRedirect(t *testing.T) {
	redirect := freeRedirectURI(t)
	srv := apitest.NewServer(apitest.WithOAuthClient("public-app", "", redirect))
	defer srv.Close()
	env := oauthEnv(srv, "public-app")
	env["BROWSER"] = filepath.Join(t.TempDir(), "no-such-browser")
	tokenFile := filepath.Join(t.TempDir(), "token.json")

	login := startLogin(t, env, nil, "--redirect-uri", redirect, "--token-file", tokenFile)
	authURL := login.authURL(t)
	if status, body := get(t, redirect+"?code=forged-code-0123&state=forged-state"); status != http.StatusBadRequest || !strings.Contains(body, "state") {
		t.Errorf("forged redirect: status %d, body %q; want 400 naming the state", status, body)
	}
	if _, err := os.Stat(tokenFile); !os.IsNotExist(err) {
		t.Errorf("a token file was written after the forged redirect: %v", err)
	}
	if status, body := get(t, approve(t, authURL)); status != http.StatusOK || !strings.Contains(body, "logged in") {
		t.Errorf("X's redirect after the forged one: status %d, body %q; want 200 saying logged in", status, body)
	}
	code := login.wait()
	stderr := login.stderr.String()
	if code != exitOK || strings.Contains(stderr, "forged-code-0123") {
		t.Errorf("exit %d, stderr %q; want 0, without the forged code", code, stderr)
	}
	if !strings.Contains(stderr, "could not open a browser") {
		t.Errorf("a browser that does not start is not reported: %q", stderr)
	}
	if tok, err := loadToken(t, tokenFile); err != nil || tok.AccessToken == "" {
		t.Errorf("X's answer was not saved: %v", err)
	}
}

func TestLoginAccessDenied(t *testing.T) {
	redirect := freeRedirectURI(t)
	srv := apitest.NewServer(apitest.WithOAuthClient("public-app", "", redirect))
	defer srv.Close()
	env := oauthEnv(srv, "public-app")
	env["BROWSER"] = filepath.Join(t.TempDir(), "no-such-browser")

	login := startLogin(t, env, nil, "--redirect-uri", redirect, "--token-file", filepath.Join(t.TempDir(), "token.json"))
	authURL, _ := url.Parse(login.authURL(t))
	get(t, redirect+"?error=access_denied&error_description=The+user+denied&state="+url.QueryEscape(authURL.Query().Get("state")))
	code, stderr := login.wait(), login.stderr.String()
	if code != exitAuth || !strings.Contains(stderr, `"access_denied" ("The user denied")`) {
		t.Errorf("exit %d, stderr %q; want 3 naming access_denied", code, stderr)
	}
	// X shows its own error page for a wrong client ID or callback URL, and login hears nothing: while it
	// waits, it says so once.
	if strings.Count(stderr, "If the browser shows an error from X, X_CLIENT_ID is wrong or the callback URL is not registered") != 1 ||
		strings.Count(stderr, "Ctrl-C stops the wait") != 1 {
		t.Errorf("stderr %q; want the hint on an error page and Ctrl-C said once", stderr)
	}
}

// A confidential client with the wrong secret: X's refusal, with what to check, and never the secret.
func TestLoginWithAWrongClientSecret(t *testing.T) {
	srv := apitest.NewServer(apitest.WithOAuthClient("confidential-app", "the-right-secret-4f2a", defaultRedirectURI))
	defer srv.Close()
	env := oauthEnv(srv, "confidential-app")
	env["X_CLIENT_SECRET"] = "a-wrong-secret-9b3e"
	stdin, typing := io.Pipe()
	defer typing.Close()

	login := startLogin(t, env, stdin, "--headless", "--token-file", filepath.Join(t.TempDir(), "token.json"))
	location := approve(t, login.authURL(t))
	fmt.Fprintln(typing, location)
	code, stderr := login.wait(), login.stderr.String()
	if code != exitAuth || !strings.Contains(stderr, "(HTTP 401 invalid_client)") || !strings.Contains(stderr, "X_CLIENT_SECRET") {
		t.Errorf("exit %d, stderr %q; want 3 naming invalid_client and X_CLIENT_SECRET", code, stderr)
	}
	pasted, _ := url.Parse(location)
	noSecrets(t, []string{stderr, login.stdout.String()}, "a-wrong-secret-9b3e", pasted.Query().Get("code"))
}

// A token endpoint that echoes everything it was sent, in its error and as a page: the code, the
// verifier and the client secret reach no output.
func TestLoginHostileTokenEndpoint(t *testing.T) {
	var sent string
	hostile := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		sent = string(body) + " " + r.Header.Get("Authorization")
		echo := strings.ReplaceAll(sent, `"`, `'`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":"invalid_request\n%s","error_description":"%s"}`, echo, echo)
	}))
	defer hostile.Close()
	const secret = "client-secret-hostile-8d1f"
	env := map[string]string{"X_CLIENT_ID": "app", "X_CLIENT_SECRET": secret, "MARKREAD_TOKEN_URL": hostile.URL}
	stdin, typing := io.Pipe()
	defer typing.Close()

	login := startLogin(t, env, stdin, "--headless", "--token-file", filepath.Join(t.TempDir(), "token.json"))
	authURL, _ := url.Parse(login.authURL(t))
	const code = "authorization-code-hostile-5e7c"
	fmt.Fprintf(typing, "%s?code=%s&state=%s\n", defaultRedirectURI, code, url.QueryEscape(authURL.Query().Get("state")))
	exit, stderr := login.wait(), login.stderr.String()
	// Its error code is no code X knows (it holds the echo): a failure, not a refusal of the credentials.
	if exit != exitFailure || strings.Count(stderr, "markread: ") != 1 || !strings.Contains(stderr, "(HTTP 400 invalid_request\\ncode=[REDACTED]&code_verifier=[REDACTED]") {
		t.Errorf("exit %d, stderr %q; want 1 and one error line, the echo redacted", exit, stderr)
	}
	form, _ := url.ParseQuery(strings.Fields(sent)[0])
	verifier := form.Get("code_verifier")
	if verifier == "" || form.Get("code") != code {
		t.Fatalf("the token request did not carry the code and the verifier: %q", sent)
	}
	noSecrets(t, []string{stderr, login.stdout.String()}, secret, code, verifier)
}

func TestLoginUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, nil, "X_CLIENT_ID is not set"},
		{map[string]string{"X_CLIENT_ID": "app"}, []string{"--redirect-uri", "https://example.com/cb"}, "must be http"},
		{map[string]string{"X_CLIENT_ID": "app", "MARKREAD_TOKEN_URL": "http://example.com/t"}, nil, "MARKREAD_TOKEN_URL must use https"},
		{map[string]string{"X_CLIENT_ID": "app"}, []string{"--token-file", t.TempDir()}, "is not a regular file (d"},
		{map[string]string{"X_CLIENT_ID": "app"}, []string{"extra"}, "takes no arguments"},
		{map[string]string{"X_CLIENT_ID": "app"}, []string{"--headles"}, "login: unknown flag: --headles (markread login --help)"},
	} {
		var stdout, stderr lockedBuffer
		code := exit(runLogin(context.Background(), tt.args, func(k string) string { return tt.env[k] }, strings.NewReader(""), &stdout, &stderr), &stderr)
		if code != exitUsage || !strings.Contains(stderr.String(), tt.want) || strings.Count(stderr.String(), "\n") != 1 {
			t.Errorf("%v %q: exit %d, stderr %q; want 2 and one line saying %q", tt.env, tt.args, code, stderr.String(), tt.want)
		}
	}
}

func TestOAuth1AgainstServe(t *testing.T) {
	var env []string
	for k, v := range oauth1Env {
		env = append(env, k+"="+v)
	}
	srv := startServe(t, env)
	r := markread(t, append(env, "X_API_BASE_URL="+srv.url), "g1", "5")
	if r.code != exitOK || !strings.Contains(r.stdout, "marked g1 read up to 5") {
		t.Errorf("mark with OAuth 1.0a: exit %d, stderr %q", r.code, r.stderr)
	}
	stdout, stderr := srv.stop(t)
	if !strings.Contains(stderr, "OAuth 1.0a: accepting requests signed") || !strings.Contains(stderr, `POST "/2/chat/conversations/g1/read" → 200`) {
		t.Errorf("serve's stderr %q", stderr)
	}
	var secrets []string
	for _, v := range oauth1Env {
		secrets = append(secrets, v)
	}
	noSecrets(t, []string{r.stdout, r.stderr, stdout, stderr}, secrets...)
}

func TestServeOAuthUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, []string{"--redirect-uri", defaultRedirectURI}, "give the app's --client-id too"},
		{nil, []string{"--client-id", "app", "--redirect-uri", "https://example.com/cb"}, "must be http"},
		{nil, []string{"--client-id", "a b"}, `--client-id "a b": want letters, digits`},
		{nil, []string{"--token-lifetime", "500ms"}, "--token-lifetime of at least 1s"},
		// Both defaults on 8080: the login serve suggests could not listen for its redirect.
		{nil, []string{"--client-id", "app", "--addr", "127.0.0.1:8080"}, "where serve itself listens"},
		{map[string]string{"X_OAUTH1_CONSUMER_KEY": "k-0123"}, nil, "OAuth 1.0a needs all four"},
	} {
		code, _, stderr := runMarkread(t, tt.env, append([]string{"serve", "--addr", "127.0.0.1:0"}, tt.args...)...)
		if code != exitUsage || !strings.Contains(stderr, tt.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v %q: exit %d, stderr %q; want 2 and one line saying %q", tt.env, tt.args, code, stderr, tt.want)
		}
	}
}
