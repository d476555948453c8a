package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/xchat-go/markread/api/apitest"
	"github.com/xchat-go/markread/internal/textsafe"
)

// faultServer is the api tests' scripted X, for what apitest cannot play: hostile or broken answers. A
// script answers one request at a time; requests it leaves alone get X's plain success. It counts the
// requests it saw and the marks it applied (only a success applies one). It serves on a loopback socket,
// or in process (newInProcessFaultServer) for tests that run on synctest's clock.
type faultServer struct {
	URL       string
	requests  atomic.Int32
	applied   atomic.Int32
	lastAuth  atomic.Value                                             // the last request's Authorization header
	script    func(n int, w http.ResponseWriter, r *http.Request) bool // reports whether it answered
	transport http.RoundTripper                                        // in process; nil for the socket
	srv       *httptest.Server
}

func (fs *faultServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := int(fs.requests.Add(1))
	fs.lastAuth.Store(r.Header.Get("Authorization"))
	body, _ := io.ReadAll(r.Body) // read in full, as a server does, and kept for the script
	r.Body = io.NopCloser(bytes.NewReader(body))
	if fs.script != nil && fs.script(n, w, r) {
		return
	}
	fs.applied.Add(1)
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, successBody)
}

func newFaultServer(t *testing.T, script func(n int, w http.ResponseWriter, r *http.Request) bool) *faultServer {
	t.Helper()
	fs := &faultServer{script: script}
	fs.srv = httptest.NewServer(fs)
	fs.URL = fs.srv.URL
	t.Cleanup(fs.srv.Close)
	return fs
}

// newInProcessFaultServer serves without a socket, so that a test inside a synctest bubble can use it.
func newInProcessFaultServer(script func(n int, w http.ResponseWriter, r *http.Request) bool) *faultServer {
	fs := &faultServer{script: script, URL: "http://127.0.0.1"}
	fs.transport = apitest.InProcess(fs)
	return fs
}

// client returns a Client for the server, under basePrefix, with quick backoff, and opts.
func (fs *faultServer) client(t *testing.T, opts ...Option) *Client {
	t.Helper()
	base := []Option{WithBaseURL(fs.URL + basePrefix), WithToken(testToken), WithBackoff(time.Millisecond, 4*time.Millisecond)}
	if fs.transport != nil {
		base = append(base, WithHTTPClient(&http.Client{Transport: fs.transport}))
	}
	c, err := NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// setup is a faultServer whose every answer is handler's, and a client for it: for tests of one outcome.
// The handler sees the path under basePrefix, so that a request built with an absolute path fails.
func setup(t *testing.T, handler http.HandlerFunc, opts ...Option) *Client {
	t.Helper()
	fs := newFaultServer(t, func(_ int, w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasPrefix(r.URL.Path, basePrefix+"/") {
			t.Errorf("request outside the base URL's prefix: %s %s", r.Method, r.URL.Path)
		}
		handler(w, r)
		return true
	})
	return fs.client(t, opts...)
}

// resetConnection aborts the connection with a TCP RST before any response byte is written.
func resetConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// faultCase is one row of the fault suite: a scripted server, the call, and what must hold.
type faultCase struct {
	name    string
	asserts string // what the test asserts, for the table in docs/reliability.md
	script  func(n int, w http.ResponseWriter, r *http.Request) bool
	opts    []Option
	timeout time.Duration
	check   func(t *testing.T, fs *faultServer, res *MarkReadResult, err error)
	// socket runs the case against a loopback socket: for faults of the connection itself. The others
	// run in process inside a synctest bubble, so that waits for resets take no real time.
	socket bool
	// redirect sends every request with a 307 to a second server on another host name; the check then
	// gets that server.
	redirect bool
}

func wantSuccess(attempts int) func(t *testing.T, fs *faultServer, res *MarkReadResult, err error) {
	return func(t *testing.T, fs *faultServer, res *MarkReadResult, err error) {
		t.Helper()
		if err != nil || res == nil || !res.Success {
			t.Fatalf("got %v, %v; want success", res, err)
		}
		if res.Attempts != attempts || int(fs.requests.Load()) != attempts {
			t.Errorf("attempts = %d, server saw %d; want %d", res.Attempts, fs.requests.Load(), attempts)
		}
		if fs.applied.Load() != 1 {
			t.Errorf("server applied %d marks, want exactly 1", fs.applied.Load())
		}
	}
}

func wantAPIError(status, attempts int) func(t *testing.T, fs *faultServer, res *MarkReadResult, err error) {
	return func(t *testing.T, fs *faultServer, res *MarkReadResult, err error) {
		t.Helper()
		var apiErr *APIError
		if res != nil || !errors.As(err, &apiErr) {
			t.Fatalf("got %v, %v; want *APIError", res, err)
		}
		if apiErr.StatusCode != status || apiErr.Attempts != attempts || int(fs.requests.Load()) != attempts {
			t.Errorf("status %d after %d attempts (server saw %d); want %d after %d", apiErr.StatusCode,
				apiErr.Attempts, fs.requests.Load(), status, attempts)
		}
		if attempts > 1 && !strings.Contains(err.Error(), fmt.Sprintf("after %d attempts", attempts)) {
			t.Errorf("error %q does not say how many attempts were made", err)
		}
	}
}

func faultCases() []faultCase {
	unixIn := func(d time.Duration) string { return strconv.FormatInt(time.Now().Add(d).Unix(), 10) }
	var resetAt sync.Map // case name -> time the 429's reset named
	return []faultCase{
		{
			name: "connection reset before the response, then 200", asserts: "retried; success after 2 attempts, 1 mark",
			socket: true,
			script: func(n int, w http.ResponseWriter, r *http.Request) bool {
				if n == 1 {
					resetConnection(w)
					return true
				}
				return false
			},
			check: wantSuccess(2),
		},
		{
			name: "connection reset on every attempt", asserts: "error after 1+3 attempts, says so",
			socket: true,
			script: func(n int, w http.ResponseWriter, r *http.Request) bool { resetConnection(w); return true },
			check: func(t *testing.T, fs *faultServer, res *MarkReadResult, err error) {
				if res != nil || err == nil || !strings.Contains(err.Error(), "after 4 attempts") || fs.requests.Load() != 4 {
					t.Fatalf("got %v, %v after %d requests; want an error after 4 attempts", res, err, fs.requests.Load())
				}
			},
		},
		{
			name: "server closes mid-body, then 200", asserts: "retried; success after 2 attempts, 1 mark",
			socket: true,
			script: func(n int, w http.ResponseWriter, r *http.Request) bool {
				if n == 1 {
					w.Header().Set("Content-Type", "application/json")
					w.Header().Set("Content-Length", "100")
					_, _ = io.WriteString(w, `{"data":{"succ`)
					http.NewResponseController(w).Flush()
					panic(http.ErrAbortHandler)
				}
				return false
			},
			check: wantSuccess(2),
		},
		{
			name: "truncated JSON with 200", asserts: "*APIError 200 with a body excerpt; not retried",
			script: func(n int, w http.ResponseWriter, r *http.Request) bool {
				reply(200, "application/json", `{"data":{"succ`)(w, r)
				return true
			},
			check: func(t *testing.T, fs *faultServer, res *MarkReadResult, err error) {
				wantAPIError(200, 1)(t, fs, res, err)
				if !strings.Contains(err.Error(), `{"data":{"succ`) {
					t.Errorf("error %q lacks the excerpt", err)
				}
			},
		},
		{
			name: "invalid JSON with 200", asserts: "*APIError 200; not retried",
			script: func(n int, w http.ResponseWriter, r *http.Request) bool {
				reply(200, "application/json", `not json at all`)(w, r)
				return true
			},
			check: wantAPIError(200, 1),
		},
		{
			name: "HTML 502 from a proxy", asserts: "retried; *APIError 502 with excerpt after 4 attempts",
			script: func(n int, w http.ResponseWriter, r *http.Request) bool {
				reply(502, "text/html", "<html><h1>502 Bad Gateway</h1></html>")(w, r)
				return true
			},
			check: func(t *testing.T, fs *faultServer, res *MarkReadResult, err error) {
				wantAPIError(502, 4)(t, fs, res, err)
				if !strings.Contains(err.Error(), "502 Bad Gateway</h1>") {
					t.Errorf("error %q lacks the excerpt", err)
				}
			},
		},
		{
			name: "503 then 200", asserts: "retried; success after 2 attempts, exactly 1 mark",
			script: func(n int, w http.ResponseWriter, r *http.Request) bool {
				if n == 1 {
					reply(503, "application/problem+json", `{"type":"about:blank","title":"Service Unavailable"}`)(w, r)
					return true
				}
				return false
			},
			check: wantSuccess(2),
		},
		{
			name: "429 with reset 1 s ahead, then 200", asserts: "waits for the reset, then success after 2 attempts",
			script: func(n int, w http.ResponseWriter, r *http.Request) bool {
				if n == 1 {
					reset := unixIn(time.Second)
					resetAt.Store("429-reset", reset)
					w.Header().Set("x-rate-limit-remaining", "0")
					w.Header().Set("x-rate-limit-reset", reset)
					reply(429, "application/json", `{"errors":[{"code":88,"message":"Rate limit exceeded"}]}`)(w, r)
					return true
				}
				v, _ := resetAt.Load("429-reset")
				sec, _ := strconv.ParseInt(v.(string), 10, 64)
				if time.Now().Before(time.Unix(sec, 0)) {
					reply(500, "text/plain", "retried before the reset")(w, r)
					return true
				}
				return false
			},
			check: wantSuccess(2),
		},
		{
			name: "429 with reset beyond MaxRateLimitWait", asserts: "*APIError 429 at once with its reset; 1 attempt",
			opts: []Option{WithMaxRateLimitWait(time.Second)},
			script: func(n int, w http.ResponseWriter, r *http.Request) bool {
				w.Header().Set("x-rate-limit-remaining", "0")
				w.Header().Set("x-rate-limit-reset", unixIn(15*time.Minute))
				reply(429, "application/json", `{"errors":[{"code":88,"message":"Rate limit exceeded"}]}`)(w, r)
				return true
			},
			check: func(t *testing.T, fs *faultServer, res *MarkReadResult, err error) {
				wantAPIError(429, 1)(t, fs, res, err)
				var apiErr *APIError
				if errors.As(err, &apiErr) && time.Until(apiErr.RetryAt()) < 14*time.Minute {
					t.Errorf("RetryAt = %v, want the reset 15 minutes ahead", apiErr.RetryAt())
				}
				if !errors.Is(err, ErrRateLimited) {
					t.Error("not ErrRateLimited")
				}
			},
		},
		{
			name: "429 with reset beyond the context deadline", asserts: "*APIError 429 at once; 1 attempt",
			timeout: 500 * time.Millisecond,
			script: func(n int, w http.ResponseWriter, r *http.Request) bool {
				w.Header().Set("x-rate-limit-remaining", "0")
				w.Header().Set("x-rate-limit-reset", unixIn(5*time.Second))
				reply(429, "application/json", `{"errors":[{"code":88,"message":"Rate limit exceeded"}]}`)(w, r)
				return true
			},
			check: wantAPIError(429, 1),
		},
		{
			name: "429 with missing headers, then 200", asserts: "falls back to backoff; success after 2 attempts",
			script: func(n int, w http.ResponseWriter, r *http.Request) bool {
				if n == 1 {
					reply(429, "application/json", `{"errors":[{"code":88,"message":"Rate limit exceeded"}]}`)(w, r)
					return true
				}
				return false
			},
			check: wantSuccess(2),
		},
		{
			name: "429 with garbage headers every time", asserts: "backoff; *APIError 429 after 4 attempts",
			script: func(n int, w http.ResponseWriter, r *http.Request) bool {
				w.Header().Set("x-rate-limit-limit", "lots")
				w.Header().Set("x-rate-limit-remaining", "-3")
				w.Header().Set("x-rate-limit-reset", "soon")
				w.Header().Set("Retry-After", "whenever")
				reply(429, "application/problem+json", `{"type":"about:blank","title":"Too Many Requests","status":429}`)(w, r)
				return true
			},
			check: wantAPIError(429, 4),
		},
		{
			name: "429 with a reset in the past (clock skew), then 200", asserts: "falls back to backoff; success after 2 attempts",
			script: func(n int, w http.ResponseWriter, r *http.Request) bool {
				if n == 1 {
					w.Header().Set("x-rate-limit-remaining", "0")
					w.Header().Set("x-rate-limit-reset", unixIn(-time.Hour))
					reply(429, "application/json", `{"errors":[{"code":88,"message":"Rate limit exceeded"}]}`)(w, r)
					return true
				}
				return false
			},
			check: wantSuccess(2),
		},
		{
			name: "503 with Retry-After: 1, then 200", asserts: "waits Retry-After; success after 2 attempts",
			script: func(n int, w http.ResponseWriter, r *http.Request) bool {
				if n == 1 {
					w.Header().Set("Retry-After", "1")
					reply(503, "text/plain", "maintenance")(w, r)
					return true
				}
				return false
			},
			check: wantSuccess(2),
		},
		{
			name: "server slower than the deadline", asserts: "errors.Is(err, context.DeadlineExceeded); no mark",
			timeout: 100 * time.Millisecond,
			script: func(n int, w http.ResponseWriter, r *http.Request) bool {
				select {
				case <-r.Context().Done():
				case <-time.After(10 * time.Second):
				}
				return true
			},
			check: func(t *testing.T, fs *faultServer, res *MarkReadResult, err error) {
				if res != nil || !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("got %v, %v; want context.DeadlineExceeded", res, err)
				}
				if fs.applied.Load() != 0 {
					t.Errorf("server applied %d marks, want none", fs.applied.Load())
				}
			},
		},
		{
			name: "10 MiB body", asserts: "ErrResponseTooLarge after reading at most 64 KiB; not retried",
			script: func(n int, w http.ResponseWriter, r *http.Request) bool {
				w.Header().Set("Content-Type", "application/json")
				chunk := bytes.Repeat([]byte("x"), 64<<10)
				for range 160 {
					if _, err := w.Write(chunk); err != nil {
						break
					}
				}
				return true
			},
			check: func(t *testing.T, fs *faultServer, res *MarkReadResult, err error) {
				if res != nil || !errors.Is(err, ErrResponseTooLarge) || fs.requests.Load() != 1 {
					t.Fatalf("got %v, %v after %d requests; want ErrResponseTooLarge after 1", res, err, fs.requests.Load())
				}
			},
		},
		{
			name: "problem+json with charset", asserts: "*APIError 404 with the decoded problem; not retried",
			script: func(n int, w http.ResponseWriter, r *http.Request) bool {
				reply(404, "application/problem+json; charset=utf-8",
					`{"type":"https://api.x.com/2/problems/resource-not-found","title":"Not Found Error","detail":"Could not find conversation","resource_type":"conversation"}`)(w, r)
				return true
			},
			check: func(t *testing.T, fs *faultServer, res *MarkReadResult, err error) {
				wantAPIError(404, 1)(t, fs, res, err)
				var apiErr *APIError
				if errors.As(err, &apiErr) && (len(apiErr.Problems) != 1 || apiErr.Problems[0].ResourceType != "conversation") {
					t.Errorf("problems = %+v", apiErr.Problems)
				}
			},
		},
		{
			name: "cross-host redirect (307 to localhost)", asserts: "ErrRedirect naming the other origin; the other host gets no request",
			redirect: true, socket: true,
			check: func(t *testing.T, target *faultServer, res *MarkReadResult, err error) {
				if res != nil || !errors.Is(err, ErrRedirect) || !strings.Contains(err.Error(), "another origin") {
					t.Fatalf("got %v, %v; want ErrRedirect naming another origin", res, err)
				}
				if target.requests.Load() != 0 {
					t.Errorf("the other host got %d requests, want none", target.requests.Load())
				}
			},
		},
		{
			name: "200 with success:false", asserts: "*APIError 200; not retried",
			script: func(n int, w http.ResponseWriter, r *http.Request) bool {
				reply(200, "application/json", `{"data":{"success":false}}`)(w, r)
				return true
			},
			check: wantAPIError(200, 1),
		},
		{
			name: "503 with Retry-After: 1 while rate-limit waiting is off, then 200", asserts: "waits Retry-After as the Marker and the CLI call the client; success after 2 attempts",
			opts: []Option{WithMaxRateLimitWait(0), WithBackoff(time.Millisecond, 2*time.Second)},
			script: func(n int, w http.ResponseWriter, r *http.Request) bool {
				if n == 1 {
					w.Header().Set("Retry-After", "1")
					reply(503, "text/plain", "maintenance")(w, r)
					return true
				}
				return false
			},
			check: wantSuccess(2),
		},
		{
			name: "301 to another path (the POST would become a GET)", asserts: "ErrRedirect naming 301 and the target's origin; not followed, no mark",
			script: func(n int, w http.ResponseWriter, r *http.Request) bool {
				if r.Method != http.MethodPost {
					return false // a GET that follows the redirect would "succeed"
				}
				http.Redirect(w, r, "/elsewhere", http.StatusMovedPermanently)
				return true
			},
			check: wantRedirectError(301),
		},
		{
			name: "303 See Other (the POST would become a GET)", asserts: "ErrRedirect naming 303; not followed, no mark",
			script: func(n int, w http.ResponseWriter, r *http.Request) bool {
				if r.Method != http.MethodPost {
					return false
				}
				http.Redirect(w, r, "/elsewhere", http.StatusSeeOther)
				return true
			},
			check: wantRedirectError(303),
		},
		{
			name: "307 to another path on the same origin", asserts: "followed with the body and the token; success, 1 mark",
			script: func(n int, w http.ResponseWriter, r *http.Request) bool {
				if n == 1 {
					http.Redirect(w, r, r.URL.Path+"/moved", http.StatusTemporaryRedirect)
					return true
				}
				if r.Header.Get("Authorization") != "Bearer "+testToken || r.ContentLength <= 0 {
					reply(400, "text/plain", "lost the token or the body")(w, r)
					return true
				}
				return false
			},
			check: func(t *testing.T, fs *faultServer, res *MarkReadResult, err error) {
				if err != nil || res.Attempts != 1 || fs.applied.Load() != 1 || fs.requests.Load() != 2 {
					t.Fatalf("got %+v, %v, %d requests, %d marks; want one attempt followed once", res, err, fs.requests.Load(), fs.applied.Load())
				}
			},
		},
		{
			name: "problem detail with a newline and ANSI escapes", asserts: "*APIError 400 whose text is one line, escapes shown; Detail as received",
			script: func(n int, w http.ResponseWriter, r *http.Request) bool {
				reply(400, "application/problem+json", `{"type":"about:blank","title":"Bad","detail":"x\nLOG forged\r\u001b[2J"}`)(w, r)
				return true
			},
			check: func(t *testing.T, fs *faultServer, res *MarkReadResult, err error) {
				wantAPIError(400, 1)(t, fs, res, err)
				var apiErr *APIError
				if errors.As(err, &apiErr) && (strings.ContainsAny(err.Error(), "\r\n\x1b") || apiErr.Problems[0].Detail != "x\nLOG forged\r\x1b[2J") {
					t.Errorf("err = %q, detail %q", err, apiErr.Problems[0].Detail)
				}
			},
		},
		{
			name: "partial success echoing the token JSON-escaped", asserts: "success; the problems show [REDACTED], never the token",
			script: func(n int, w http.ResponseWriter, r *http.Request) bool {
				reply(200, "application/json", `{"data":{"success":true},"errors":[{"detail":"`+escapeJSON(testToken)+`","extra":[{"k":"`+escapeJSON(testToken)+`"}]}]}`)(w, r)
				return true
			},
			check: func(t *testing.T, fs *faultServer, res *MarkReadResult, err error) {
				if err != nil || len(res.Problems) != 1 {
					t.Fatalf("got %+v, %v; want a partial success", res, err)
				}
				encoded, _ := json.Marshal(res.Problems)
				if leaks(everyVerb(res)+string(encoded), testToken) || !strings.Contains(res.Problems[0].Detail, textsafe.Redacted) {
					t.Errorf("problems %s carry the token", encoded)
				}
			},
		},
	}
}

// wantRedirectError checks a refused redirect: ErrRedirect naming the status, one request, no mark.
func wantRedirectError(status int) func(t *testing.T, fs *faultServer, res *MarkReadResult, err error) {
	return func(t *testing.T, fs *faultServer, res *MarkReadResult, err error) {
		t.Helper()
		if res != nil || !errors.Is(err, ErrRedirect) || !strings.Contains(err.Error(), "HTTP "+strconv.Itoa(status)) {
			t.Fatalf("got %+v, %v; want ErrRedirect naming %d", res, err, status)
		}
		if fs.requests.Load() != 1 || fs.applied.Load() != 0 {
			t.Errorf("server saw %d requests and applied %d marks; want 1 and none", fs.requests.Load(), fs.applied.Load())
		}
	}
}

// TestFaultSuite runs every fault case, on synctest's clock in process or, for faults of the connection
// itself, against a real loopback server. With -v it prints the table docs/reliability.md shows:
// go test -run TestFaultSuite -v ./api/
func TestFaultSuite(t *testing.T) {
	var rows []string
	for _, fc := range faultCases() {
		t.Run(fc.name, func(t *testing.T) {
			var requests int32
			run := func(t *testing.T, fs *faultServer) {
				c := fs.client(t, fc.opts...)
				checked := fs
				if fc.redirect {
					checked = newFaultServer(t, nil)
					other, _ := url.Parse(checked.URL)
					other.Host = "localhost:" + other.Port()
					fs.script = func(n int, w http.ResponseWriter, r *http.Request) bool {
						http.Redirect(w, r, other.String()+r.URL.Path, http.StatusTemporaryRedirect)
						return true
					}
				}
				ctx := context.Background()
				if fc.timeout > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, fc.timeout)
					defer cancel()
				}
				res, err := c.MarkConversationRead(ctx, "1587411342381740032-783214", "1940387512345678901")
				fc.check(t, checked, res, err)
				if err != nil && leaks(everyVerb(err), testToken) {
					t.Error("the error carries the access token")
				}
				if err != nil && strings.Contains(err.Error(), "markread:") {
					t.Errorf("error %q: errors carry no package prefix", err)
				}
				outcome := "success"
				if err != nil {
					outcome = outcomeName(err)
				}
				requests = fs.requests.Load()
				if checked != fs {
					requests += checked.requests.Load()
				}
				rows = append(rows, fmt.Sprintf("| %s | %d | %s | %s |", fc.name, requests, outcome, fc.asserts))
			}
			if fc.socket {
				run(t, newFaultServer(t, fc.script))
				return
			}
			synctest.Test(t, func(t *testing.T) { run(t, newInProcessFaultServer(fc.script)) })
		})
	}
	table := "| case | requests | outcome | asserted |\n|---|---|---|---|\n" + strings.Join(rows, "\n") + "\n"
	t.Logf("fault suite:\n%s", table)
	if checkDocs != nil && len(rows) == len(faultCases()) && !t.Failed() {
		checkDocs(t, "docs/reliability.md", table)
	}
}

// checkDocs, set by the docs check (go test -tags docs, make docs-check), fails t unless the file shows text.
var checkDocs func(t *testing.T, file, text string)

func outcomeName(err error) string {
	var apiErr *APIError
	switch {
	case errors.As(err, &apiErr):
		return "*APIError " + strconv.Itoa(apiErr.StatusCode)
	case errors.Is(err, context.DeadlineExceeded):
		return "context.DeadlineExceeded"
	case errors.Is(err, ErrResponseTooLarge):
		return "ErrResponseTooLarge"
	case errors.Is(err, ErrRedirect):
		return "ErrRedirect"
	}
	return "transport error"
}

func TestNoLogsWithoutLogger(t *testing.T) {
	var logs bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
	defer slog.SetDefault(old)
	fs := newFaultServer(t, func(n int, w http.ResponseWriter, r *http.Request) bool {
		reply(500, "", "")(w, r)
		return true
	})
	_, _ = fs.client(t).MarkConversationRead(context.Background(), "1", "2")
	if logs.Len() != 0 {
		t.Errorf("logged %q without WithLogger", logs.String())
	}
}

// TestNoGoroutineOutlivesACall: calls that retry, wait out a rate limit and time out leave nothing
// running. synctest.Test fails if a goroutine of the bubble is still alive when the function returns.
func TestNoGoroutineOutlivesACall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := apitest.NewHandler(apitest.WithRateLimit(3, time.Second))
		c, err := NewClient(WithBaseURL("http://127.0.0.1"), WithToken(apitest.DefaultToken),
			WithHTTPClient(&http.Client{Transport: h.Transport()}))
		if err != nil {
			t.Fatal(err)
		}
		h.FailNext(2, http.StatusBadGateway)
		for i := range 10 {
			if _, err := c.MarkConversationRead(context.Background(), "g1", strconv.Itoa(i+1)); err != nil {
				t.Fatal(err)
			}
		}
		h.SetLatency(time.Hour)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := c.MarkConversationRead(ctx, "g1", "99"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want the deadline", err)
		}
	})
}

// TestLoadUnderInjectedFaults: 64 goroutines x 25 calls against a server that fails 10% of requests with
// a 5xx and 5% with a 429 before applying anything. Every call must end in a result or a typed error, and
// the server's count of applied marks must equal the client's count of successes.
func TestLoadUnderInjectedFaults(t *testing.T) {
	const goroutines, calls = 64, 25
	var injected5xx, injected429 atomic.Int32
	fs := newFaultServer(t, func(n int, w http.ResponseWriter, r *http.Request) bool {
		switch p := rand.IntN(100); {
		case p < 10:
			injected5xx.Add(1)
			reply(500+rand.IntN(4), "text/plain", "injected")(w, r)
			return true
		case p < 15:
			injected429.Add(1)
			reply(429, "application/json", `{"errors":[{"code":88,"message":"Rate limit exceeded"}]}`)(w, r)
			return true
		}
		return false
	})
	c := fs.client(t, WithMaxRetries(2))
	var successes, apiErrors, otherErrors atomic.Int32
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range calls {
				res, err := c.MarkConversationRead(context.Background(), "g"+strconv.Itoa(g), strconv.Itoa(i+1))
				var apiErr *APIError
				switch {
				case err == nil && res != nil && res.Success:
					successes.Add(1)
				case err != nil && res == nil && errors.As(err, &apiErr):
					apiErrors.Add(1)
				default:
					otherErrors.Add(1)
					t.Errorf("call ended in %v, %v: neither a result nor a typed error", res, err)
				}
			}
		})
	}
	wg.Wait()
	t.Logf("load: %d calls, %d requests (%d injected 5xx, %d injected 429): %d successes, %d *APIError, %d other; server applied %d",
		goroutines*calls, fs.requests.Load(), injected5xx.Load(), injected429.Load(),
		successes.Load(), apiErrors.Load(), otherErrors.Load(), fs.applied.Load())
	if got := successes.Load() + apiErrors.Load() + otherErrors.Load(); got != goroutines*calls {
		t.Errorf("%d calls ended, want %d", got, goroutines*calls)
	}
	if fs.applied.Load() != successes.Load() {
		t.Errorf("server applied %d marks, client counted %d successes", fs.applied.Load(), successes.Load())
	}
	if injected5xx.Load() == 0 || injected429.Load() == 0 {
		t.Error("no faults were injected")
	}
}
