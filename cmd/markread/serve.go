package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/xchat-go/markread/api/apitest"
	"github.com/xchat-go/markread/internal/loopback"
)

const serveUsage = `usage: markread serve [--addr 127.0.0.1:8000] [--token T] [--rate-limit N] [--rate-window D] [--latency D]
                      [--client-id ID [--redirect-uri URI]] [--token-lifetime D]

Runs the fake X API (package api/apitest) for other programs' tests, until SIGINT or SIGTERM. It validates
every request against markread's OpenAPI spec and answers as X does. It listens on loopback only; port 0
picks a free port. The first line on stdout is the base URL alone (e.g. http://127.0.0.1:41234), for
scripts to read; the lines after it are for people.

Flags:
  --addr ADDR         loopback address to listen on (default 127.0.0.1:8000)
  --token T           the bearer token to accept (default $X_ACCESS_TOKEN, else apitest's test token)
  --rate-limit N      requests allowed per user in each window (default 900)
  --rate-window D     the rate-limit window (default 15m)
  --latency D         delay every answer by D (default 0)

It also plays X's authorization server, for markread login and refreshing tokens (stderr says which
MARKREAD_AUTH_URL and MARKREAD_TOKEN_URL to set); the fake user approves every login at once:
  --client-id ID      register an app: a public client, or a confidential one when $X_CLIENT_SECRET is set
  --redirect-uri URI  the app's callback URL, http on loopback, on another port than --addr, where markread
                      login listens (default http://localhost:8080/callback, login's default)
  --token-lifetime D  how long the access tokens it issues last (default 2h)
OAuth 1.0a: with all four of $X_OAUTH1_CONSUMER_KEY, $X_OAUTH1_CONSUMER_SECRET, $X_OAUTH1_ACCESS_TOKEN and
$X_OAUTH1_ACCESS_TOKEN_SECRET set, requests signed with them are accepted too.

Each request is logged to stderr (method, path, status), never its Authorization header.
`

// defaultServeAddr is not on login's default callback port (8080): serve --client-id ID starts as written.
const defaultServeAddr = "127.0.0.1:8000"

func runServe(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("markread serve")
	addr := fs.String("addr", defaultServeAddr, "")
	token := fs.String("token", "", "")
	limit := fs.Int("rate-limit", apitest.DefaultRateLimit, "")
	window := fs.Duration("rate-window", apitest.DefaultRateWindow, "")
	latency := fs.Duration("latency", 0, "")
	clientID := fs.String("client-id", "", "")
	redirectURI := fs.String("redirect-uri", defaultRedirectURI, "")
	tokenLifetime := fs.Duration("token-lifetime", apitest.DefaultAccessTokenLifetime, "")
	if help, err := parseFlags(fs, args, serveUsage, stdout, true); help || err != nil {
		return err
	}
	switch {
	case *limit < 1 || *window <= 0 || *latency < 0:
		return usageErrorf("serve: want --rate-limit >= 1, --rate-window > 0 and --latency >= 0")
	case *tokenLifetime < time.Second:
		return usageErrorf("serve: want --token-lifetime of at least 1s (expires_in counts whole seconds)")
	}
	auth, err := serveOAuth(fs, *clientID, *redirectURI, *tokenLifetime, env)
	if err != nil {
		return &exitError{code: exitUsage, err: fmt.Errorf("serve: %w", err)}
	}
	host, port, err := net.SplitHostPort(*addr)
	if err != nil || !loopback.Host(host) {
		// The fake accepts a test token and is not meant to be a network service.
		return usageErrorf("serve: --addr %q is not a loopback address with a port; the fake server listens on 127.0.0.1, ::1 or localhost only", *addr)
	}
	if auth.redirectPort == port {
		// markread login listens on the callback's port.
		return usageErrorf("serve: the callback URL %s is on port %s, where serve itself listens, so markread "+
			"login could not wait there for the redirect; give another --redirect-uri or --addr", auth.redirect, port)
	}

	tokenFrom := "--token"
	accepted := strings.TrimSpace(*token)
	if accepted == "" {
		accepted, tokenFrom = strings.TrimSpace(env("X_ACCESS_TOKEN")), "$X_ACCESS_TOKEN"
	}
	if accepted == "" {
		accepted, tokenFrom = apitest.DefaultToken, ""
	}
	if strings.ContainsAny(accepted, " \t\r\n") {
		return usageErrorf("serve: the token must be one word")
	}

	handler := apitest.NewHandler(append([]apitest.Option{apitest.WithTokens(accepted),
		apitest.WithRateLimit(*limit, *window), apitest.WithLatency(*latency)}, auth.options...)...)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	url := "http://" + ln.Addr().String()
	fmt.Fprint(stderr, auth.help(url)) // before the request log starts writing there
	logged, flushLog := logRequests(handler, stderr)
	srv := &http.Server{Handler: logged, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	fmt.Fprintln(stdout, url) // alone on the first line, for scripts
	if tokenFrom == "" {
		// The default is this package's public test token, so showing it leaks nothing.
		fmt.Fprintf(stdout, "accepting the token %s (choose one with --token or X_ACCESS_TOKEN)\n", accepted)
		fmt.Fprintf(stdout, "try: X_API_BASE_URL=%s X_ACCESS_TOKEN=%s markread g1 5\n", url, accepted)
	} else {
		fmt.Fprintf(stdout, "accepting the token from %s\n", tokenFrom)
	}
	fmt.Fprintln(stdout, "stop with Ctrl-C")

	select {
	case err := <-served:
		_ = srv.Close()
		flushLog()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		// Requests still in flight (a long --latency): cut them off rather than hang.
		_ = srv.Close()
	}
	flushLog()
	fmt.Fprintln(stderr, "markread serve: stopped")
	return nil
}

// logRequests logs one line per request to w: method, path and status, never a header. stop makes
// it log nothing more: a request cut off by a forced shutdown may finish late.
func logRequests(next http.Handler, w io.Writer) (handler http.Handler, stop func()) {
	var mu sync.Mutex
	stopped := false
	handler = http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		sr := &statusRecorder{ResponseWriter: rw, status: http.StatusOK}
		next.ServeHTTP(sr, r)
		status := fmt.Sprint(sr.status)
		if sr.hijacked {
			status = "dropped"
		}
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			fmt.Fprintf(w, "%s %s %q → %s\n", time.Now().UTC().Format(time.RFC3339), r.Method, r.URL.Path, status)
		}
	})
	return handler, func() { mu.Lock(); stopped = true; mu.Unlock() }
}

// statusRecorder remembers the status a handler wrote. It passes Hijack through, which the fake's
// dropped-connection faults need.
type statusRecorder struct {
	http.ResponseWriter
	status          int
	wrote, hijacked bool
}

func (sr *statusRecorder) WriteHeader(status int) {
	if !sr.wrote {
		sr.status, sr.wrote = status, true
	}
	sr.ResponseWriter.WriteHeader(status)
}

func (sr *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := sr.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("the connection cannot be taken over")
	}
	sr.hijacked = true
	return hj.Hijack()
}

func (sr *statusRecorder) Unwrap() http.ResponseWriter { return sr.ResponseWriter }

// serveAuth is what serve registers with the fake's authorization server.
type serveAuth struct {
	options      []apitest.Option
	clientID     string // "" when no app is registered
	confidential bool
	redirect     string
	redirectPort string // "" when no app is registered
	oauth1       bool
}

// serveOAuth turns serve's OAuth flags and environment into the fake's options.
func serveOAuth(fs *pflag.FlagSet, clientID, redirectURI string, lifetime time.Duration, env func(string) string) (serveAuth, error) {
	auth := serveAuth{options: []apitest.Option{apitest.WithAccessTokenLifetime(lifetime)}, clientID: strings.TrimSpace(clientID)}
	switch {
	case auth.clientID == "" && fs.Changed("redirect-uri"):
		return serveAuth{}, errors.New("--redirect-uri registers the callback URL of an app: give the app's --client-id too")
	case auth.clientID != "":
		if !isWord(auth.clientID) {
			return serveAuth{}, fmt.Errorf("--client-id %q: want letters, digits and -._~ only", auth.clientID)
		}
		redirect, err := parseRedirectURI(redirectURI)
		if err != nil {
			return serveAuth{}, err
		}
		auth.redirect, auth.redirectPort = redirect.String(), redirect.Port()
		if auth.redirectPort == "" {
			auth.redirectPort = "80" // parseRedirectURI allows http only
		}
		secret := strings.TrimSpace(env("X_CLIENT_SECRET"))
		auth.confidential = secret != ""
		auth.options = append(auth.options, apitest.WithOAuthClient(auth.clientID, secret, auth.redirect))
	}
	oauth1, err := oauth1FromEnv(env)
	if err != nil {
		return serveAuth{}, err
	}
	if oauth1 != nil {
		auth.oauth1 = true
		auth.options = append(auth.options, apitest.WithOAuth1(oauth1[0], oauth1[1], oauth1[2], oauth1[3]))
	}
	return auth, nil
}

// help tells a person how to log in against the server at url.
func (a serveAuth) help(url string) string {
	var b strings.Builder
	if a.clientID != "" {
		kind, secret := "a public client", ""
		if a.confidential {
			// The variable's name, not its value: the shell fills it in.
			kind, secret = "a confidential client (its secret is $X_CLIENT_SECRET)", ` X_CLIENT_SECRET="$X_CLIENT_SECRET"`
		}
		fmt.Fprintf(&b, "OAuth 2.0: app %s, %s, callback URL %s; log in with\n", a.clientID, kind, a.redirect)
		fmt.Fprintf(&b, "  MARKREAD_AUTH_URL=%s%s MARKREAD_TOKEN_URL=%s%s X_CLIENT_ID=%s%s markread login --redirect-uri %s\n",
			url, apitest.AuthorizePath, url, apitest.TokenPath, a.clientID, secret, a.redirect)
	} else {
		fmt.Fprintf(&b, "OAuth 2.0: no app registered (--client-id); its endpoints are MARKREAD_AUTH_URL=%s%s MARKREAD_TOKEN_URL=%s%s\n",
			url, apitest.AuthorizePath, url, apitest.TokenPath)
	}
	if a.oauth1 {
		b.WriteString("OAuth 1.0a: accepting requests signed with the credentials in $X_OAUTH1_*\n")
	}
	return b.String()
}

// isWord reports whether s holds only characters a shell and a terminal pass as they are.
func isWord(s string) bool {
	for _, r := range s {
		if !(r == '-' || r == '.' || r == '_' || r == '~' || '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
			return false
		}
	}
	return s != ""
}
