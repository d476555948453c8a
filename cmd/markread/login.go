package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/oauth2"

	"github.com/xchat-go/markread/api"
	"github.com/xchat-go/markread/internal/loopback"
	"github.com/xchat-go/markread/internal/textsafe"
)

var loginUsage = `usage: markread login [--token-file PATH] [--redirect-uri URI] [--headless]

Logs in to X with OAuth 2.0 (authorization code with PKCE) as the user who approves in the browser, and
keeps the token, which the mark command then uses and renews. It asks for the scopes
` + strings.Join(loginScopes, ", ") + ` (the last for the refresh token).

It listens on the redirect URI, prints the URL to open (on stderr) and opens the browser where it can,
then waits up to 5 minutes for X to send the browser back. Register the redirect URI as a callback URL of
your app in X's developer portal first, exactly as given.

Flags:
  --token-file PATH    where to keep the token (default: markread/token.json in your config directory,
                       e.g. ~/.config on Linux)
  --redirect-uri URI   your app's callback URL, http on loopback (default ` + defaultRedirectURI + `)
  --headless           don't listen or open a browser: open the URL on any machine, then paste the
                       address the browser was sent to (the page itself may fail to load)

Environment:
  X_CLIENT_ID          your app's OAuth 2.0 client ID (required)
  X_CLIENT_SECRET      a confidential client's secret, sent with HTTP Basic; unset for a public client
  MARKREAD_AUTH_URL    the authorization endpoint (default ` + api.Endpoint.AuthURL + `)
  MARKREAD_TOKEN_URL   the token endpoint (default ` + api.Endpoint.TokenURL + `)
  BROWSER              the command that opens the URL (default xdg-open, open or the Windows shell)

Exit codes: 0 logged in; 1 timeout, network or other failure; 2 usage error; 3 X refused (the user
denied access, or X refused the client or the code).
`

const (
	defaultRedirectURI   = "http://localhost:8080/callback"
	loginTimeout         = 5 * time.Minute  // how long login waits for the user, as X's xurl does
	tokenExchangeTimeout = 30 * time.Second // the token request, once the code is in
	maxPastedBytes       = 16 << 10         // what --headless reads: a redirect URL is well under 2 KiB
	// waitingHint is said once while login waits: X shows its own error page, and login hears nothing.
	waitingHint = "If the browser shows an error from X, X_CLIENT_ID is wrong or the callback URL is not registered " +
		"with the app, exactly as given; Ctrl-C stops the wait.\n"
)

func runLogin(ctx context.Context, args []string, env func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("markread login")
	tokenFile := fs.String("token-file", "", "")
	redirectURI := fs.String("redirect-uri", defaultRedirectURI, "")
	headless := fs.Bool("headless", false, "")
	if help, err := parseFlags(fs, args, loginUsage, stdout, true); help || err != nil {
		return err
	}
	conf, err := oauthConfig(env, "markread login")
	if err != nil {
		return err
	}
	redirect, err := parseRedirectURI(*redirectURI)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	conf.RedirectURL = redirect.String()
	store, err := openTokenStore(*tokenFile)
	if err != nil {
		return err
	}
	flow, err := newLoginFlow(conf, redirect)
	if err != nil {
		return err
	}

	var tok *oauth2.Token
	save := func(ctx context.Context, code string) error {
		t, err := flow.exchange(ctx, code)
		if err != nil {
			return err
		}
		flow.secrets = append(flow.secrets, code, t.AccessToken, t.RefreshToken)
		if scope, ok := t.Extra("scope").(string); ok { // the endpoint's text: kept without what it was sent
			t = t.WithExtra(map[string]any{"scope": textsafe.Redact(scope, flow.secrets...)})
		}
		if err := store.Replace(ctx, t); err != nil { // never amid a renewal another markread makes
			return fmt.Errorf("%w; the new token was not saved", err)
		}
		tok = t
		return nil
	}
	if *headless {
		fmt.Fprintf(stderr, "Open this URL in a browser on any machine and authorize the app:\n\n  %s\n\n", flow.authURL())
		fmt.Fprintf(stderr, "Then paste here the address the browser was sent to (it starts with %s; the page may fail to load), and press Enter.\n", conf.RedirectURL)
		fmt.Fprint(stderr, waitingHint)
		var code string
		if code, err = flow.readPasted(ctx, stdin); err == nil {
			err = save(ctx, code)
		}
	} else {
		var listeners []net.Listener
		if listeners, err = listen(redirect); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "Open this URL in your browser and authorize the app:\n\n  %s\n\n", flow.authURL())
		if err := openBrowser(env, flow.authURL()); err != nil {
			fmt.Fprintf(stderr, "(could not open a browser: %s; open the URL yourself)\n", textsafe.OneLine(err.Error()))
		}
		fmt.Fprintf(stderr, "Waiting up to %s for X to send the browser back to %s ...\n", roughly(loginTimeout), conf.RedirectURL)
		fmt.Fprint(stderr, waitingHint)
		err = flow.awaitCallback(ctx, listeners, save)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "logged in; the token is kept in %s\n", textsafe.OneLine(store.Path()))
	fmt.Fprint(stdout, describeToken(tok, time.Now()))
	return nil
}

// loginFlow is one authorization: the PKCE verifier and the state it sent, and where X sends the browser
// back.
type loginFlow struct {
	conf     *oauth2.Config
	redirect *url.URL
	state    string
	verifier string
	secrets  []string // what login must never show: the client secret, the verifier, the code, the tokens
}

// Format shows neither the verifier nor the app's secret, whatever the verb.
func (loginFlow) Format(s fmt.State, _ rune) { fmt.Fprint(s, "loginFlow") }

func newLoginFlow(conf *oauth2.Config, redirect *url.URL) (*loginFlow, error) {
	state := make([]byte, 32)
	if _, err := rand.Read(state); err != nil {
		return nil, fmt.Errorf("making the login's state: %w", err)
	}
	verifier := oauth2.GenerateVerifier()
	return &loginFlow{conf: conf, redirect: redirect, state: base64.RawURLEncoding.EncodeToString(state),
		verifier: verifier, secrets: []string{conf.ClientSecret, textsafe.BasicCredential(conf.ClientID, conf.ClientSecret), verifier}}, nil
}

func (f *loginFlow) authURL() string {
	return f.conf.AuthCodeURL(f.state, oauth2.S256ChallengeOption(f.verifier))
}

// ownState says whether the redirect's query carries this login's state, which is what tells X's answer
// from one a page forged (or a stale tab's); compared in constant time.
func (f *loginFlow) ownState(query url.Values) bool {
	return subtle.ConstantTimeCompare([]byte(query.Get("state")), []byte(f.state)) == 1
}

// checkRedirect reads X's answer from the redirect's query: the code, or why there is none.
func (f *loginFlow) checkRedirect(query url.Values) (code string, err error) {
	stateOK := f.ownState(query)
	if query.Has("error") {
		// The page that sent it may echo what it was sent: the secrets go before the text is cut.
		msg := "X did not authorize markread: " + strconv.Quote(textsafe.Cut(textsafe.Redact(query.Get("error"), f.secrets...), 64))
		if desc := query.Get("error_description"); desc != "" {
			msg += " (" + strconv.Quote(textsafe.Cut(textsafe.Redact(desc, f.secrets...), 200)) + ")"
		}
		if !stateOK {
			msg += "; the answer's state is not this login's, so it may not come from X"
		}
		return "", failf(exitAuth, "login: %s", msg)
	}
	if !stateOK {
		return "", failf(exitFailure, "login: the redirect's state is not the one this login sent, so it is not X's "+
			"answer to this login (a stale tab, or a page forging one); nothing was saved: run markread login again")
	}
	code = query.Get("code")
	if code == "" {
		return "", failf(exitFailure, "login: X's redirect carries no code; run markread login again")
	}
	return code, nil
}

// exchange trades the code for a token at the token endpoint, with the PKCE verifier.
func (f *loginFlow) exchange(ctx context.Context, code string) (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(ctx, tokenExchangeTimeout)
	defer cancel()
	ctx = context.WithValue(ctx, oauth2.HTTPClient, &http.Client{
		// A redirect would re-send the code and the verifier (and a 307 the client's Basic credentials
		// within the same host) to wherever it points: refuse it.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	})
	tok, err := f.conf.Exchange(ctx, code, oauth2.VerifierOption(f.verifier))
	if err != nil {
		return nil, f.exchangeFailure(err, code)
	}
	return tok, nil
}

// exchangeFailure describes a failed token request in one line: the status and error code, with the
// secrets replaced exactly, whatever their shape; nothing else of x/oauth2's error, which quotes the answer.
func (f *loginFlow) exchangeFailure(err error, code string) error {
	var retrieve *oauth2.RetrieveError
	var urlErr *url.Error
	switch {
	case errors.As(err, &retrieve):
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("login: the token endpoint did not answer within %s", roughly(tokenExchangeTimeout))
	case errors.Is(err, context.Canceled):
		return errors.New("login: interrupted; nothing was saved")
	case errors.As(err, &urlErr): // its text may quote a status line the endpoint sent
		return fmt.Errorf("login: no answer from the token endpoint at %s (the connection failed, or what came back was not HTTP); "+
			"check MARKREAD_TOKEN_URL and the network, and run markread login again", f.tokenOrigin())
	default: // x/oauth2's text quotes the answer
		return fmt.Errorf("login: the token endpoint at %s answered, but not with a token; check MARKREAD_TOKEN_URL", f.tokenOrigin())
	}
	msg := fmt.Sprintf("login: the token endpoint at %s refused to issue a token (HTTP %s)", f.tokenOrigin(), strings.TrimSpace(
		fmt.Sprint(retrieve.Response.StatusCode, " ", textsafe.OneLine(textsafe.Redact(retrieve.ErrorCode, append(f.secrets, code)...)))))
	switch retrieve.ErrorCode {
	case "unauthorized_client", "invalid_client":
		return fmt.Errorf("%s: %w; check X_CLIENT_ID, and that X_CLIENT_SECRET is set exactly when the app is a confidential client", msg, api.ErrClientRefused)
	case "invalid_grant", "invalid_request":
		return failf(exitAuth, "%s; the code lasts only 30 seconds, and --redirect-uri must be exactly your app's callback URL: run markread login again", msg)
	}
	if retrieve.Response.StatusCode == http.StatusUnauthorized {
		return fmt.Errorf("%s: %w", msg, api.ErrClientRefused)
	}
	return errors.New(msg)
}

// tokenOrigin is the token endpoint's scheme and host, as much of it as login's errors name: the rest of
// MARKREAD_TOKEN_URL may hold a credential.
func (f *loginFlow) tokenOrigin() string {
	u, err := url.Parse(f.conf.Endpoint.TokenURL)
	if err != nil { // api.EndpointFromEnv parsed it already
		return "MARKREAD_TOKEN_URL"
	}
	return textsafe.OneLine(u.Scheme + "://" + u.Host)
}

// awaitCallback serves the redirect URI until X sends the browser back, runs finish with the code while
// the browser waits (its page says how it went), and returns finish's error; it gives up after
// loginTimeout. Only the first answer with this login's state counts: any web page can send the browser
// to the redirect URI, and one with another state gets an error page while the wait goes on.
func (f *loginFlow) awaitCallback(ctx context.Context, listeners []net.Listener, finish func(ctx context.Context, code string) error) error {
	var mu sync.Mutex
	taken, over := false, false // an answer arrived; awaitCallback stopped waiting for one
	arrived := make(chan struct{})
	result := make(chan error, 1)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		if r.URL.Path != f.redirect.Path || r.Method != http.MethodGet {
			http.Error(w, "markread login: not found", http.StatusNotFound)
			return
		}
		query := r.URL.Query()
		if !query.Has("code") && !query.Has("error") {
			http.Error(w, "markread login: this is not an answer from X (no code, no error)", http.StatusBadRequest)
			return
		}
		if !f.ownState(query) {
			http.Error(w, "markread login: this is not X's answer to the login waiting in the terminal (its state is "+
				"another one: a stale tab, or a page forging one); the login goes on: open the URL it printed", http.StatusBadRequest)
			return
		}
		mu.Lock()
		first := !taken && !over
		taken = true
		mu.Unlock()
		if !first {
			http.Error(w, "markread login: this login is over; see the terminal", http.StatusGone)
			return
		}
		close(arrived)
		code, err := f.checkRedirect(query)
		if err == nil {
			err = finish(ctx, code)
		}
		if err != nil {
			http.Error(w, "markread: "+textsafe.OneLine(err.Error())+"\n(see the terminal)", http.StatusBadRequest)
		} else {
			fmt.Fprintln(w, "markread: logged in. You can close this tab.")
		}
		result <- err
	})

	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, len(listeners))
	for _, ln := range listeners {
		go func() { served <- srv.Serve(ln) }()
	}
	defer func() {
		// Let the answer reach the browser, without waiting long on a browser that keeps a connection.
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if srv.Shutdown(shutdownCtx) != nil {
			_ = srv.Close()
		}
	}()

	wait, cancel := context.WithTimeout(ctx, loginTimeout)
	defer cancel()
	select {
	case <-arrived:
	case err := <-served:
		return failf(exitFailure, "login: serving the redirect URI: %s", textsafe.OneLine(err.Error()))
	case <-wait.Done():
		mu.Lock()
		late := taken // an answer came in as the wait ended: it is handled, not dropped half-way
		over = true
		mu.Unlock()
		switch {
		case late:
		case ctx.Err() != nil:
			return failf(exitFailure, "login: interrupted; nothing was saved")
		default:
			return failf(exitFailure, "login: gave up after %s without an answer from X; nothing was saved: run markread login again", roughly(loginTimeout))
		}
	}
	return <-result // finish honours ctx
}

// readPasted reads the address the browser was sent to from stdin (--headless) and returns its code. It
// gives up after loginTimeout. Its errors never quote what was pasted: it holds the code.
func (f *loginFlow) readPasted(ctx context.Context, stdin io.Reader) (string, error) {
	type line struct {
		text string
		err  error
	}
	lines := make(chan line, 1)
	go func() {
		// Left blocked on a terminal that never answers: the command exits soon after giving up.
		text, err := bufio.NewReader(io.LimitReader(stdin, maxPastedBytes)).ReadString('\n')
		lines <- line{text, err}
	}()
	wait, cancel := context.WithTimeout(ctx, loginTimeout)
	defer cancel()
	var got line
	select {
	case got = <-lines:
	case <-wait.Done():
		if ctx.Err() != nil {
			return "", failf(exitFailure, "login: interrupted; nothing was saved")
		}
		return "", failf(exitFailure, "login: gave up after %s without the pasted address; nothing was saved: run markread login again", roughly(loginTimeout))
	}
	text := strings.TrimSpace(got.text)
	if text == "" {
		return "", failf(exitFailure, "login: no address on stdin; paste the address the browser was sent to, then press Enter")
	}
	u, err := url.Parse(text)
	if err == nil && u.Path == "" {
		u.Path = "/"
	}
	if err != nil || u.Path != f.redirect.Path || (!u.Query().Has("code") && !u.Query().Has("error")) {
		return "", failf(exitFailure, "login: what was pasted is not the address the browser was sent to; want the whole address, starting with %s", f.redirect)
	}
	return f.checkRedirect(u.Query())
}

// parseRedirectURI checks --redirect-uri: X sends the code there, so it must be http on loopback, where
// login listens. X matches it exactly against the app's callback URLs.
func parseRedirectURI(raw string) (*url.URL, error) {
	const want = "want e.g. " + defaultRedirectURI + ", exactly as registered with your app"
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		return nil, fmt.Errorf("--redirect-uri %q is not an absolute URL; %s", raw, want)
	case u.Scheme != "http":
		return nil, fmt.Errorf("--redirect-uri %q: must be http (login listens on this machine for it); %s", raw, want)
	case !loopback.Host(u.Hostname()):
		return nil, fmt.Errorf("--redirect-uri %q: the host must be loopback (localhost, 127.0.0.1 or [::1]), where login listens; %s", raw, want)
	case u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#"):
		return nil, fmt.Errorf("--redirect-uri %q: must carry no user info, query or fragment; %s", raw, want)
	}
	if u.Path == "" {
		u.Path = "/" // what the browser asks for
	}
	return u, nil
}

// listen opens the listeners for the redirect URI: localhost means both 127.0.0.1 and ::1, which the
// browser may use; without IPv6, 127.0.0.1 does, but a port another program holds (and could receive
// the code on) is refused.
func listen(redirect *url.URL) ([]net.Listener, error) {
	port := redirect.Port()
	if port == "" {
		port = "80"
	}
	host := redirect.Hostname()
	hosts := []string{host}
	if strings.EqualFold(host, "localhost") {
		hosts = []string{"127.0.0.1", "::1"}
	}
	var listeners []net.Listener
	for i, h := range hosts {
		ln, err := net.Listen("tcp", net.JoinHostPort(h, port))
		if err != nil {
			if i > 0 && !errors.Is(err, syscall.EADDRINUSE) {
				continue
			}
			for _, l := range listeners {
				_ = l.Close()
			}
			var opErr *net.OpError
			if errors.As(err, &opErr) {
				err = opErr.Err // its text repeats the address
			}
			return nil, fmt.Errorf("cannot listen on %s for X's redirect: %s; free the port, or register another "+
				"callback URL with your app and pass it with --redirect-uri", net.JoinHostPort(h, port), textsafe.OneLine(err.Error()))
		}
		listeners = append(listeners, ln)
	}
	return listeners, nil
}

// openBrowser opens authURL with $BROWSER, or the platform's opener, without waiting for it. Best effort:
// the URL is printed as well.
func openBrowser(env func(string) string, authURL string) error {
	command := strings.Fields(env("BROWSER"))
	if len(command) == 0 {
		command = map[string][]string{"darwin": {"open"}, "windows": {"rundll32", "url.dll,FileProtocolHandler"}}[runtime.GOOS]
	}
	if len(command) == 0 {
		command = []string{"xdg-open"}
	}
	cmd := exec.Command(command[0], append(command[1:], authURL)...)
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }()
	return nil
}
