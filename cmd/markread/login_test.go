package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/oauth2"

	"github.com/xchat-go/markread/api"
	"github.com/xchat-go/markread/internal/textsafe"
)

// In-process tests of the login flow's parts; login_e2e_test.go runs the whole of it against markread serve.

func testFlow(t *testing.T, redirectURI string) *loginFlow {
	t.Helper()
	redirect, err := parseRedirectURI(redirectURI)
	if err != nil {
		t.Fatal(err)
	}
	conf := &oauth2.Config{
		ClientID:    "test-client",
		Endpoint:    oauth2.Endpoint{AuthURL: "http://127.0.0.1:1/authorize", TokenURL: "http://127.0.0.1:1/token"},
		RedirectURL: redirect.String(),
		Scopes:      loginScopes,
	}
	flow, err := newLoginFlow(conf, redirect)
	if err != nil {
		t.Fatal(err)
	}
	return flow
}

func TestAuthURLAsksForPKCEAndTheScopes(t *testing.T) {
	flow := testFlow(t, defaultRedirectURI)
	u, err := url.Parse(flow.authURL())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	for name, want := range map[string]string{
		"response_type":         "code",
		"client_id":             "test-client",
		"redirect_uri":          defaultRedirectURI,
		"scope":                 "users.read dm.write tweet.read offline.access",
		"state":                 flow.state,
		"code_challenge_method": "S256",
		"code_challenge":        oauth2.S256ChallengeFromVerifier(flow.verifier),
	} {
		if got := q.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if len(flow.state) != 43 { // 32 random bytes, base64url without padding
		t.Errorf("state has %d characters, want 43", len(flow.state))
	}
	if strings.Contains(flow.authURL(), flow.verifier) {
		t.Error("the authorize URL carries the PKCE verifier")
	}
	flow.conf.ClientSecret = "client-secret-in-a-flow"
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d", "%q"} {
		if out := fmt.Sprintf(verb, flow) + fmt.Sprintf(verb, *flow); strings.Contains(out, flow.verifier) || strings.Contains(out, "client-secret-in-a-flow") {
			t.Errorf("%s of a loginFlow shows a secret", verb)
		}
	}
	if other := testFlow(t, defaultRedirectURI); other.state == flow.state || other.verifier == flow.verifier {
		t.Error("two logins share a state or a verifier")
	}
}

func TestCheckRedirect(t *testing.T) {
	flow := testFlow(t, defaultRedirectURI)
	tests := []struct {
		name     string
		query    url.Values
		wantCode int
		want     string
	}{
		{"the code", url.Values{"code": {"the-code"}, "state": {flow.state}}, exitOK, ""},
		{"another state", url.Values{"code": {"c"}, "state": {flow.state[1:] + "x"}}, exitFailure, "state is not the one this login sent"},
		{"no state", url.Values{"code": {"c"}}, exitFailure, "state is not the one this login sent"},
		{"no code", url.Values{"state": {flow.state}, "code": {""}}, exitFailure, "carries no code"},
		{"access denied", url.Values{"error": {"access_denied"}, "error_description": {"The user said no"}, "state": {flow.state}},
			exitAuth, `X did not authorize markread: "access_denied" ("The user said no")`},
		{"an error with another state", url.Values{"error": {"access_denied"}, "state": {"forged"}},
			exitAuth, "may not come from X"},
		{"a hostile error", url.Values{"error": {"x\nmarkread: logged in\x1b[2K"}, "error_description": {strings.Repeat("\n\x1b", 500)}, "state": {flow.state}},
			exitAuth, `"x\nmarkread: logged in\x1b[2K"`},
		{"an echo of the secrets", url.Values{"error": {flow.verifier}, "error_description": {"v=" + flow.verifier}, "state": {"forged"}},
			exitAuth, `X did not authorize markread: "[REDACTED]" ("v=[REDACTED]")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, err := flow.checkRedirect(tt.query)
			if tt.wantCode == exitOK {
				if err != nil || code != "the-code" {
					t.Fatalf("got the code: %v, error %v; want the code", code == "the-code", err)
				}
				return
			}
			if err == nil || exitCode(err) != tt.wantCode || !strings.Contains(err.Error(), tt.want) || code != "" {
				t.Fatalf("got a code: %v, error %v (exit %d); want exit %d saying %q", code != "", err, exitCode(err), tt.wantCode, tt.want)
			}
			var stderr strings.Builder
			exit(err, &stderr)
			if line := strings.TrimSuffix(stderr.String(), "\n"); strings.ContainsAny(line, "\n\x1b") || len(line) > 1000 || !strings.HasPrefix(line, "markread: login: ") {
				t.Errorf("the error line is not one bounded, printable line: %q", line)
			}
		})
	}
}

// listenLoopback starts a listener on a free loopback port and returns it with the redirect URI on it.
func listenLoopback(t *testing.T) (net.Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln, "http://" + ln.Addr().String() + "/callback"
}

// get plays the browser: one GET, no redirects followed.
func get(t *testing.T, rawURL string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a hang guard only
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// awaitInBackground runs awaitCallback and returns where its error arrives and the codes finish was given.
func awaitInBackground(flow *loginFlow, ln net.Listener, finishErr error) (<-chan error, func() []string) {
	var mu sync.Mutex
	var codes []string
	done := make(chan error, 1)
	go func() {
		done <- flow.awaitCallback(context.Background(), []net.Listener{ln}, func(_ context.Context, code string) error {
			mu.Lock()
			defer mu.Unlock()
			codes = append(codes, code)
			return finishErr
		})
	}()
	return done, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), codes...) }
}

func TestAwaitCallbackTakesTheFirstAnswer(t *testing.T) {
	ln, redirect := listenLoopback(t)
	flow := testFlow(t, redirect)
	done, codes := awaitInBackground(flow, ln, nil)

	if status, _ := get(t, strings.TrimSuffix(redirect, "/callback")+"/other?code=c&state="+flow.state); status != http.StatusNotFound {
		t.Errorf("another path: status %d, want 404", status)
	}
	if status, _ := get(t, redirect); status != http.StatusBadRequest {
		t.Errorf("no code, no error: status %d, want 400", status)
	}
	status, body := get(t, redirect+"?code=the-code&state="+url.QueryEscape(flow.state))
	if status != http.StatusOK || !strings.Contains(body, "logged in") {
		t.Errorf("X's answer: status %d, body %q; want 200 saying logged in", status, body)
	}
	if err := <-done; err != nil {
		t.Fatalf("awaitCallback: %v", err)
	}
	if got := codes(); len(got) != 1 || got[0] != "the-code" {
		t.Errorf("finish got %q, want the code once", got)
	}
}

// The browser's page says how it went: finish's failure shows there, and ends awaitCallback.
func TestAwaitCallbackReportsFinishsFailure(t *testing.T) {
	ln, redirect := listenLoopback(t)
	flow := testFlow(t, redirect)
	done, _ := awaitInBackground(flow, ln, failf(exitAuth, "login: X's token endpoint refused to issue a token"))
	status, body := get(t, redirect+"?code=c&state="+url.QueryEscape(flow.state))
	if status != http.StatusBadRequest || !strings.Contains(body, "refused to issue a token") {
		t.Errorf("status %d, body %q; want 400 naming the failure", status, body)
	}
	if err := <-done; exitCode(err) != exitAuth {
		t.Errorf("awaitCallback: %v (exit %d), want finish's failure, exit 3", err, exitCode(err))
	}
}

// An answer with another state than the login sent is not X's (a stale tab, or any web page sending the
// browser to the redirect URI): it gets an error page, reaches no token exchange, and the login waits on
// for X's.
func TestAwaitCallbackIgnoresAnAnswerWithAnotherState(t *testing.T) {
	ln, redirect := listenLoopback(t)
	flow := testFlow(t, redirect)
	done, codes := awaitInBackground(flow, ln, nil)
	for _, forged := range []string{"?code=forged-code&state=forged-state", "?code=forged-code", "?error=access_denied&state=forged-state"} {
		status, body := get(t, redirect+forged)
		if status != http.StatusBadRequest || !strings.Contains(body, "state") || !strings.Contains(body, "the login goes on") {
			t.Errorf("%s: status %d, body %q; want 400 naming the state and saying the login goes on", forged, status, body)
		}
	}
	select {
	case err := <-done:
		t.Fatalf("awaitCallback ended on a forged answer: %v", err)
	default:
	}
	if status, _ := get(t, redirect+"?code=the-code&state="+url.QueryEscape(flow.state)); status != http.StatusOK {
		t.Errorf("X's answer after the forged ones: status %d, want 200", status)
	}
	if err := <-done; err != nil {
		t.Fatalf("awaitCallback: %v", err)
	}
	if got := codes(); len(got) != 1 || got[0] != "the-code" {
		t.Errorf("finish got %q, want X's code once", got)
	}
}

func TestAwaitCallbackAccessDenied(t *testing.T) {
	ln, redirect := listenLoopback(t)
	flow := testFlow(t, redirect)
	done, codes := awaitInBackground(flow, ln, nil)
	if status, _ := get(t, redirect+"?error=access_denied&state="+url.QueryEscape(flow.state)); status != http.StatusBadRequest {
		t.Errorf("status %d, want 400", status)
	}
	if err := <-done; exitCode(err) != exitAuth || !strings.Contains(err.Error(), "access_denied") {
		t.Errorf("awaitCallback: %v (exit %d); want exit 3 naming access_denied", err, exitCode(err))
	}
	if len(codes()) != 0 {
		t.Error("finish ran without a code")
	}
}

// idleListener is a listener nobody connects to, whose Accept blocks on a channel: inside a synctest
// bubble, unlike a socket, that lets the fake clock run.
type idleListener struct {
	closed chan struct{}
	once   sync.Once
}

func newIdleListener() *idleListener { return &idleListener{closed: make(chan struct{})} }

func (l *idleListener) Accept() (net.Conn, error) {
	<-l.closed
	return nil, net.ErrClosed
}

func (l *idleListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *idleListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080} }

func TestLoginGivesUpAfterFiveMinutes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		flow := testFlow(t, defaultRedirectURI)
		start := time.Now()
		err := flow.awaitCallback(context.Background(), []net.Listener{newIdleListener()}, func(context.Context, string) error {
			t.Error("finish ran without an answer")
			return nil
		})
		if waited := time.Since(start); waited != loginTimeout {
			t.Errorf("gave up after %s, want %s", waited, loginTimeout)
		}
		if exitCode(err) != exitFailure || !strings.Contains(err.Error(), "gave up after 5m ") {
			t.Errorf("got %v (exit %d); want exit 1 saying it gave up after 5m", err, exitCode(err))
		}
	})
}

// pipeListener is a listener whose connections are in-memory pipes that dial makes: inside a synctest
// bubble, unlike sockets, they let the fake clock run.
type pipeListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080} }

func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	server, client := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.closed:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// A forged answer neither ends the login nor moves its limit: it gives up 5 minutes after it began.
func TestLoginGivesUpAfterFiveMinutesDespiteAForgedAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		flow := testFlow(t, defaultRedirectURI)
		ln := newPipeListener()
		transport := &http.Transport{DialContext: ln.dial}
		defer transport.CloseIdleConnections()
		start := time.Now()
		done := make(chan error, 1)
		go func() {
			done <- flow.awaitCallback(context.Background(), []net.Listener{ln}, func(context.Context, string) error {
				t.Error("finish ran with a forged answer's code")
				return nil
			})
		}()

		time.AfterFunc(time.Minute, func() {
			resp, err := (&http.Client{Transport: transport}).Get(defaultRedirectURI + "?code=forged-code&state=forged-state")
			if err != nil {
				t.Errorf("the forged answer: %v", err)
				return
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("the forged answer: status %d, want 400", resp.StatusCode)
			}
		})
		err := <-done
		if waited := time.Since(start); waited != loginTimeout {
			t.Errorf("gave up after %s, want %s", waited, loginTimeout)
		}
		if exitCode(err) != exitFailure || !strings.Contains(err.Error(), "gave up after 5m ") {
			t.Errorf("got %v (exit %d); want exit 1 saying it gave up after 5m", err, exitCode(err))
		}
	})
}

func TestLoginStopsWhenInterrupted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		flow := testFlow(t, defaultRedirectURI)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(time.Minute, cancel)
		err := flow.awaitCallback(ctx, []net.Listener{newIdleListener()}, nil)
		if err == nil || !strings.Contains(err.Error(), "interrupted") {
			t.Errorf("got %v, want interrupted", err)
		}
	})
}

func TestReadPasted(t *testing.T) {
	flow := testFlow(t, defaultRedirectURI)
	good := defaultRedirectURI + "?state=" + url.QueryEscape(flow.state) + "&code=pasted-code-123"
	tests := []struct {
		name, stdin string
		wantCode    int
		want        string
	}{
		{"the address", "  " + good + "\n", exitOK, ""},
		{"without a newline", good, exitOK, ""},
		{"another state", defaultRedirectURI + "?state=forged&code=pasted-code-123\n", exitFailure, "state"},
		{"access denied", defaultRedirectURI + "?state=" + url.QueryEscape(flow.state) + "&error=access_denied\n", exitAuth, "access_denied"},
		{"the code alone", "pasted-code-123\n", exitFailure, "not the address the browser was sent to"},
		{"another path", "http://localhost:8080/other?state=" + url.QueryEscape(flow.state) + "&code=pasted-code-123\n", exitFailure, "not the address"},
		{"nothing", "", exitFailure, "no address on stdin"},
		{"an empty line", "\n", exitFailure, "no address on stdin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, err := flow.readPasted(context.Background(), strings.NewReader(tt.stdin))
			if tt.wantCode == exitOK {
				if err != nil || code != "pasted-code-123" {
					t.Fatalf("got the code: %v, error %v; want the code", code == "pasted-code-123", err)
				}
				return
			}
			if strings.Contains(fmt.Sprint(err), "pasted-code-123") {
				t.Fatal("the error shows the pasted code")
			}
			if err == nil || exitCode(err) != tt.wantCode || !strings.Contains(err.Error(), tt.want) || code != "" {
				t.Fatalf("got a code: %v, error %v (exit %d); want exit %d saying %q", code != "", err, exitCode(err), tt.wantCode, tt.want)
			}
		})
	}
}

func TestReadPastedGivesUpAfterFiveMinutes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		flow := testFlow(t, defaultRedirectURI)
		stdin, typing := io.Pipe()
		defer typing.Close() // lets the reading goroutine end
		start := time.Now()
		_, err := flow.readPasted(context.Background(), stdin)
		if time.Since(start) != loginTimeout || err == nil || !strings.Contains(err.Error(), "gave up after 5m ") {
			t.Errorf("after %s: %v; want to give up after 5m", time.Since(start), err)
		}
	})
}

func TestParseRedirectURI(t *testing.T) {
	for _, ok := range []struct{ in, path string }{
		{defaultRedirectURI, "/callback"},
		{"http://127.0.0.1:9000/cb", "/cb"},
		{"http://[::1]:9000/", "/"},
		{"http://localhost:9000", "/"},
	} {
		u, err := parseRedirectURI(ok.in)
		if err != nil || u.Path != ok.path {
			t.Errorf("%s: %v, %v; want path %s", ok.in, u, err, ok.path)
		}
	}
	for _, bad := range []struct{ in, want string }{
		{"https://localhost:8080/callback", "must be http"},
		{"http://example.com:8080/callback", "must be loopback"},
		{"http://192.0.2.1:8080/callback", "must be loopback"},
		{"http://localhost:8080/callback?x=1", "no user info, query or fragment"},
		{"http://localhost:8080/callback#x", "no user info, query or fragment"},
		{"http://u:p@localhost:8080/callback", "no user info, query or fragment"},
		{"localhost:8080/callback", "not an absolute URL"},
		{"/callback", "not an absolute URL"},
		{"http://local\nhost/", "not an absolute URL"},
	} {
		_, err := parseRedirectURI(bad.in)
		if err == nil || !strings.Contains(err.Error(), bad.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: %v; want an error saying %q", bad.in, err, bad.want)
		}
	}
}

func TestListenOnLocalhostTakesBothLoopbacks(t *testing.T) {
	ln, _ := listenLoopback(t)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	_ = ln.Close() // a free port, very likely still free a moment later
	redirect, _ := parseRedirectURI("http://localhost:" + port + "/callback")
	listeners, err := listen(redirect)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	if host, _, _ := net.SplitHostPort(listeners[0].Addr().String()); host != "127.0.0.1" {
		t.Errorf("first listener on %s, want 127.0.0.1", host)
	}
	if ipv6, err := net.Listen("tcp", "[::1]:0"); err == nil {
		_ = ipv6.Close()
		if len(listeners) != 2 {
			t.Errorf("%d listeners on a machine with ::1, want 2", len(listeners))
		}
	}
}

func TestListenRefusesATakenPort(t *testing.T) {
	ln, redirectURI := listenLoopback(t)
	defer ln.Close()
	redirect, _ := parseRedirectURI(redirectURI)
	_, err := listen(redirect)
	if err == nil || !strings.Contains(err.Error(), "--redirect-uri") || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Errorf("got %v; want an error naming the address and --redirect-uri", err)
	}
}

func TestOAuthConfigFromTheEnvironment(t *testing.T) {
	envOf := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	if _, err := oauthConfig(envOf(nil), "markread login"); err == nil || !strings.Contains(err.Error(), "X_CLIENT_ID") {
		t.Errorf("no client ID: %v; want an error naming X_CLIENT_ID", err)
	}
	public, err := oauthConfig(envOf(map[string]string{"X_CLIENT_ID": "id"}), "")
	if err != nil || public.Endpoint.AuthStyle != oauth2.AuthStyleInParams || public.ClientSecret != "" ||
		public.Endpoint.AuthURL != api.Endpoint.AuthURL || public.Endpoint.TokenURL != api.Endpoint.TokenURL {
		t.Errorf("public client: %+v, %v", public, err)
	}
	confidential, err := oauthConfig(envOf(map[string]string{"X_CLIENT_ID": "id", "X_CLIENT_SECRET": "s3cret-value",
		"MARKREAD_AUTH_URL": "http://127.0.0.1:9/a", "MARKREAD_TOKEN_URL": "https://auth.example/t"}), "")
	if err != nil || confidential.Endpoint.AuthStyle != oauth2.AuthStyleInHeader || confidential.ClientSecret != "s3cret-value" ||
		confidential.Endpoint.AuthURL != "http://127.0.0.1:9/a" || confidential.Endpoint.TokenURL != "https://auth.example/t" {
		t.Errorf("confidential client: %v", err)
	}

	// The URLs' checks are api.EndpointFromEnv's; a refusal is a usage error.
	if _, err := oauthConfig(envOf(map[string]string{"X_CLIENT_ID": "id", "MARKREAD_TOKEN_URL": "http://auth.example/t"}), ""); exitCode(err) != exitUsage {
		t.Errorf("MARKREAD_TOKEN_URL over http: %v, exit %d; want a usage error", err, exitCode(err))
	}
}

// exitCode maps each cause to the README's exit code, through any wrapping.
func TestExitCode(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("no OAuth 2.0 access token: %w", err) }
	for _, c := range []struct {
		err  error
		want int
	}{
		{errors.New("boom"), exitFailure},
		{failf(exitAuth, "login: no"), exitAuth},
		{usageErrorf("bad"), exitUsage},
		{wrap(fmt.Errorf("renewing: HTTP 400 invalid_grant: %w", api.ErrLoginRequired)), exitAuth},
		{wrap(fmt.Errorf("renewing: HTTP 401 invalid_client: %w", api.ErrClientRefused)), exitAuth},
		{wrap(errors.New("renewing: the token endpoint answered HTTP 503")), exitFailure},
		{wrap(errors.New("renewing: the token endpoint answered HTTP 307")), exitFailure},
		{wrap(context.DeadlineExceeded), exitFailure},
		{fmt.Errorf("x: %w", api.ErrInvalidSequenceID), exitUsage},
		{fmt.Errorf("x: %w", api.ErrRateLimited), exitRateLimited},
		{&api.APIError{StatusCode: 401}, exitAuth},
		{&api.APIError{StatusCode: 403}, exitAuth},
		{&api.APIError{StatusCode: 500}, exitFailure},
	} {
		if got := exitCode(c.err); got != c.want {
			t.Errorf("exitCode(%v) = %d, want %d", c.err, got, c.want)
		}
	}
	var stderr strings.Builder
	if code := exit(failf(exitUsage, "bad\x1b[2J\ninput"), &stderr); code != exitUsage || stderr.String() != "markread: bad\\x1b[2J\\ninput\n" {
		t.Errorf("exit printed %q, exit %d; want one escaped line with the prefix once, exit 2", stderr.String(), code)
	}
}

const (
	echoClientID     = "echo-app"
	echoClientSecret = "echo-client-secret-Zq81x"
	echoCode         = "echo-auth-code-0123456789"
)

// echoingTokenEndpoint is a hostile token endpoint: answer gets what the request carried (the form and
// the client secret from HTTP Basic) and writes the answer.
func echoingTokenEndpoint(t *testing.T, answer func(w http.ResponseWriter, form url.Values, secret string)) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		_, secret, _ := r.BasicAuth()
		secret, _ = url.QueryUnescape(secret)
		answer(w, r.PostForm, secret)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// headlessLoginWithCode runs markread login --headless as a confidential client against the token
// endpoint at tokenURL, pasting a redirect with echoCode and the login's own state, and returns the exit
// code, stdout and stderr.
func headlessLoginWithCode(t *testing.T, tokenURL, tokenFile string) (int, string, string) {
	t.Helper()
	env := map[string]string{
		"X_CLIENT_ID":        echoClientID,
		"X_CLIENT_SECRET":    echoClientSecret,
		"MARKREAD_AUTH_URL":  "http://127.0.0.1:1/authorize",
		"MARKREAD_TOKEN_URL": tokenURL,
	}
	stdin, typing := io.Pipe()
	defer typing.Close()
	login := startLogin(t, env, stdin, "--headless", "--token-file", tokenFile)
	authURL, err := url.Parse(login.authURL(t))
	if err != nil {
		t.Fatal(err)
	}
	go fmt.Fprintf(typing, "%s?code=%s&state=%s\n", defaultRedirectURI, echoCode, url.QueryEscape(authURL.Query().Get("state")))
	code := login.wait()
	return code, login.stdout.String(), login.stderr.String()
}

// malformedHTTPEndpoint answers every request with a status line that is not HTTP and quotes echo: the
// transport's error then quotes it too.
func malformedHTTPEndpoint(t *testing.T, echo string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_, _ = http.ReadRequest(bufio.NewReader(conn))
				fmt.Fprintf(conn, "HTTP/1.1 %s OK\r\n\r\n", echo)
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/2/oauth2/token"
}

// A token endpoint whose failure is not an OAuth refusal: x/oauth2 (a 200 whose expires_in is not a
// number) or the transport (a status line that is not HTTP) quote its answer in their errors. Login shows
// a fixed text naming only the endpoint's origin, so the client secret it echoes, in any encoding (the
// HTTP Basic credential it was sent, JSON escapes), reaches no output.
func TestLoginShowsNoFormOfTheClientSecretAnEndpointEchoes(t *testing.T) {
	basic := base64.StdEncoding.EncodeToString([]byte(echoClientID + ":" + echoClientSecret))
	var escaped strings.Builder
	for _, r := range echoClientSecret {
		fmt.Fprintf(&escaped, `\u%04x`, r)
	}
	echoInExpiresIn := func(echo string) func(*testing.T) string {
		return func(t *testing.T) string {
			return echoingTokenEndpoint(t, func(w http.ResponseWriter, _ url.Values, _ string) {
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, `{"access_token":"echo-access-token-0123","expires_in":"%s"}`, echo)
			}).URL + "/2/oauth2/token"
		}
	}
	closedPort := func(t *testing.T) string {
		ln, redirect := listenLoopback(t)
		_ = ln.Close()
		return strings.TrimSuffix(redirect, "/callback") + "/2/oauth2/token"
	}
	for _, tt := range []struct {
		name     string
		endpoint func(t *testing.T) string
		want     string
	}{
		{"the HTTP Basic credential in expires_in", echoInExpiresIn(basic), "answered, but not with a token"},
		{"the HTTP Basic credential in a status line", func(t *testing.T) string { return malformedHTTPEndpoint(t, basic) }, "no answer from the token endpoint"},
		{"a closed port", closedPort, "no answer from the token endpoint"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tokenURL := tt.endpoint(t)
			origin := strings.TrimSuffix(tokenURL, "/2/oauth2/token")
			code, stdout, stderr := headlessLoginWithCode(t, tokenURL, filepath.Join(t.TempDir(), "token.json"))
			if code != exitFailure || !strings.Contains(stderr, tt.want) || !strings.Contains(stderr, "token endpoint at "+origin+" ") {
				t.Errorf("exit %d, stderr %q; want 1 saying %q and naming the token endpoint's origin only", code, stderr, tt.want)
			}
			// printable doubles the backslashes of the \u escapes; undone, the echo reads as it was sent.
			noSecrets(t, []string{stdout, stderr, strings.ReplaceAll(stderr, `\\`, `\`)}, echoClientSecret, basic, escaped.String())
		})
	}
}

// A token endpoint that puts what it was sent (the PKCE verifier, the client secret, the code) in the
// "scope" of its answer: neither login, which shows the scopes, nor markread token shows them.
func TestLoginAndTokenShowNoSecretEchoedInTheScope(t *testing.T) {
	var verifier string
	endpoint := echoingTokenEndpoint(t, func(w http.ResponseWriter, form url.Values, secret string) {
		verifier = form.Get("code_verifier")
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"token_type": "bearer", "expires_in": 7200,
			"access_token": "echo-access-token-0123", "refresh_token": "echo-refresh-token-0123",
			"scope": strings.Join([]string{"users.read", form.Get("code_verifier"), secret, form.Get("code")}, " "),
		})
	})
	tokenFile := filepath.Join(t.TempDir(), "token.json")
	code, stdout, stderr := headlessLoginWithCode(t, endpoint.URL, tokenFile)
	if code != exitOK {
		t.Fatalf("login: exit %d, stderr %q", code, stderr)
	}
	if verifier == "" {
		t.Fatal("the token endpoint got no verifier")
	}
	const want = "scopes: users.read [REDACTED] [REDACTED] [REDACTED]"
	if !strings.Contains(stdout, want) {
		t.Errorf("login's stdout %q does not say %q", stdout, want)
	}
	noSecrets(t, []string{stdout, stderr}, verifier, echoClientSecret, echoCode)

	var tokStdout, tokStderr bytes.Buffer
	exit(runToken(context.Background(), []string{"--token-file", tokenFile}, &tokStdout), &tokStderr)
	if !strings.Contains(tokStdout.String(), want) {
		t.Errorf("markread token's stdout %q does not say %q", tokStdout.String(), want)
	}
	noSecrets(t, []string{tokStdout.String(), tokStderr.String()}, verifier, echoClientSecret, echoCode)
}

// A client secret, a code or a verifier with an error code's shape (lower case and _), echoed as the
// error code, is replaced: it is matched exactly, whatever its shape.
func TestExchangeFailureShowsNoSecretOfAnErrorCodesShape(t *testing.T) {
	const secret, code = "lowercase_client_secret", "lowercase_code"
	flow := testFlow(t, defaultRedirectURI)
	flow.conf.ClientSecret = secret
	flow.secrets = append(flow.secrets, secret, textsafe.BasicCredential(flow.conf.ClientID, flow.conf.ClientSecret))
	for _, echo := range []string{secret, code, flow.verifier, "invalid_request_" + secret} {
		resp := &http.Response{StatusCode: http.StatusBadRequest}
		err := flow.exchangeFailure(&oauth2.RetrieveError{Response: resp, ErrorCode: echo}, code)
		if text := err.Error(); strings.Contains(text, secret) || strings.Contains(text, code) || strings.Contains(text, flow.verifier) ||
			!strings.Contains(text, "(HTTP 400 ") || !strings.Contains(text, "[REDACTED]") {
			t.Errorf("echo %q: %q; want the status and the code textsafe.Redacted", echo, text)
		}
	}
}

// A token endpoint that redirects (307, 308) is not followed: the code, the verifier and the client's
// Basic credential would go wherever it points. Login fails, exit 1, and nothing is saved.
func TestLoginFollowsNoRedirectFromTheTokenEndpoint(t *testing.T) {
	for _, status := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		var hits atomic.Int32
		elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
		endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, elsewhere.URL+"/token", status)
		}))
		tokenFile := filepath.Join(t.TempDir(), "token.json")
		code, stdout, stderr := headlessLoginWithCode(t, endpoint.URL, tokenFile)
		endpoint.Close()
		elsewhere.Close()
		if code != exitFailure || hits.Load() != 0 || !strings.Contains(stderr, fmt.Sprintf("(HTTP %d)", status)) {
			t.Errorf("%d: exit %d, %d requests elsewhere, stderr %q; want 1 and none", status, code, hits.Load(), stderr)
		}
		if _, err := os.Stat(tokenFile); !os.IsNotExist(err) {
			t.Errorf("%d: a token file was written (%v)", status, err)
		}
		noSecrets(t, []string{stdout, stderr}, echoClientSecret, echoCode)
	}
}
