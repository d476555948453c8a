package api

// Attacks from a hostile server or a careless caller, written by a cold review: each asserts that a
// promise holds (no secret out, one-line errors, no success without the mark).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// badForOneLine lists what must never reach Error() raw.
const badForOneLine = "\n\r\x1b\x07\x00\u0085\u2028\u2029\u202e\u200f"

func oneLineViolation(s string) bool { return strings.ContainsAny(s, badForOneLine) }

func percentEncodeAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, "%%%02X", s[i])
	}
	return b.String()
}

// rawServer answers every connection with the bytes raw() returns for the request's token.
func rawServer(t *testing.T, raw func(token string) string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				req, err := http.ReadRequest(bufio.NewReader(conn))
				if err != nil {
					return
				}
				token := strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")
				_, _ = io.WriteString(conn, raw(token))
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// P1: a malformed header line (no colon) from the server reaches Error() raw: net/textproto puts the
// line into its ProtocolError unquoted.
func TestAttackMalformedHeaderLineReachesErrorRaw(t *testing.T) {
	base := rawServer(t, func(string) string {
		return "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\x1b[2J\x1b[31mmarkread: marked 1 read \u202egnp.exe\u2028forged\r\n\r\n"
	})
	c, err := NewClient(WithBaseURL(base), WithToken(testToken), WithMaxRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.MarkConversationRead(context.Background(), "1", "2")
	if err == nil {
		t.Fatal("want an error")
	}
	t.Logf("err = %q", err.Error())
	if oneLineViolation(err.Error()) {
		t.Errorf("Error() carries raw control/format characters: %q", err.Error())
	}
}

// P2: a same-origin 307 to an unreachable URL whose path is the token, percent-encoded: the *url.Error
// (text and URL field) carries the token in a form anyone can decode.
func TestAttackPercentEncodedTokenInRedirectLocation(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		w.Header().Set("Location", "http://"+deadAddr+"/"+percentEncodeAll(token))
		w.WriteHeader(http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	var logs bytes.Buffer
	c, err := NewClient(WithBaseURL(srv.URL), WithToken(testToken), WithMaxRetries(1),
		WithBackoff(time.Millisecond, time.Millisecond), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.MarkConversationRead(context.Background(), "1", "2")
	if err == nil {
		t.Fatal("want an error")
	}
	t.Logf("err = %q", err.Error())
	text := everyVerb(err) + logs.String()
	if strings.Contains(lenientUnescape(text), testToken) {
		t.Errorf("the error or the log carries the token percent-encoded: %v", err)
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		if dec, _ := url.PathUnescape(uerr.URL); strings.Contains(dec, testToken) {
			t.Errorf("errors.As reaches a *url.Error whose URL holds the token: %s", uerr.URL)
		}
	}
}

// P3: a 307 to another origin: the client strips the token but still posts the mark there, and reports
// the other origin's {"success":true} as success, though X never saw an authenticated request.
func TestAttackCrossOriginTemporaryRedirectIsNotSuccess(t *testing.T) {
	var sawAuth atomic.Bool
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawAuth.Store(r.Header.Get("Authorization") != "")
		reply(200, "application/json", successBody)(w, r)
	}))
	defer other.Close()
	// Same host name, other port: another origin.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", other.URL+r.URL.Path)
		w.WriteHeader(http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	c, err := NewClient(WithBaseURL(srv.URL), WithToken(testToken))
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.MarkConversationRead(context.Background(), "1", "2")
	if err == nil && res.Success {
		t.Errorf("success reported from another origin that got no credentials (auth seen: %v)", sawAuth.Load())
	}
}

// P4: the token source's error text reaches Error() verbatim: oauth2's RetrieveError carries a newline
// and the token endpoint's raw body, which a hostile endpoint fills with ANSI escapes and echoed secrets.
func TestAttackTokenSourceErrorIsOneLineAndScrubbed(t *testing.T) {
	const refresh = "refresh-token-SECRET-abcdef123456"
	const clientSecret = "client-secret-SECRET-987654"
	tokenEndpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		_, pw, _ := r.BasicAuth()
		w.WriteHeader(500)
		fmt.Fprintf(w, "boom\n\x1b[31mmarkread: forged\x1b[0m refresh=%s secret=%s%s", r.PostForm.Get("refresh_token"), pw, r.PostForm.Get("client_secret"))
	}))
	defer tokenEndpoint.Close()
	conf := &oauth2.Config{ClientID: "id", ClientSecret: clientSecret, Endpoint: oauth2.Endpoint{TokenURL: tokenEndpoint.URL}}
	ts := conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: refresh, Expiry: time.Now().Add(-time.Hour)})
	var logs bytes.Buffer
	c, err := NewClient(WithBaseURL("http://127.0.0.1:1"), WithTokenSource(ts), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.MarkConversationRead(context.Background(), "1", "2")
	if err == nil {
		t.Fatal("want an error")
	}
	if oneLineViolation(err.Error()) {
		t.Errorf("Error() is not one line / carries raw escapes: %q", err.Error())
	}
	text := everyVerb(err) + logs.String()
	if strings.Contains(text, refresh) || strings.Contains(text, clientSecret) {
		t.Errorf("the refresh token or client secret reaches the error: %q", err.Error())
	}
}

// rotatingSource hands out a new valid token on every call (a pool, or a source that refreshes early).
type rotatingSource struct {
	mu sync.Mutex
	n  int
}

func (s *rotatingSource) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	return &oauth2.Token{AccessToken: fmt.Sprintf("rotating-token-%02d-abcdefghijkl", s.n)}, nil
}

// P5: the scrubber knows only the current attempt's token; a server echoes the previous attempt's one.
func TestAttackEarlierAttemptsTokenIsScrubbed(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	c := setup(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		if len(seen) == 1 {
			w.WriteHeader(503)
			return
		}
		reply(400, "application/problem+json", `{"type":"about:blank","title":"Bad","detail":"earlier token `+seen[0]+`"}`)(w, r)
	}, WithTokenSource(&rotatingSource{}), WithMaxRetries(1))
	_, err := c.MarkConversationRead(context.Background(), "1", "2")
	mu.Lock()
	first := seen[0]
	mu.Unlock()
	if err == nil || strings.Contains(everyVerb(err), first) {
		t.Errorf("the first attempt's token leaks through the second attempt's error: %v", err)
	}
}

// P6: a header value carrying the token JSON-escaped or percent-encoded is not scrubbed (the body is).
func TestAttackEncodedTokenInHeaderValue(t *testing.T) {
	c := setup(t, func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		w.Header().Set("X-Echo-Json", escapeJSON(tok))
		w.Header().Set("X-Echo-Pct", percentEncodeAll(tok))
		reply(200, "application/json", successBody)(w, r)
	})
	res, err := c.MarkConversationRead(context.Background(), "1", "2")
	if err != nil {
		t.Fatal(err)
	}
	if leaks(fmt.Sprint(res.Header), testToken) || strings.Contains(lenientUnescape(fmt.Sprint(res.Header)), testToken) {
		t.Errorf("Header carries the token encoded: %v", res.Header)
	}
}

// P7: status codes above 599 (Go accepts any three digits) are retried as 5xx.
func TestAttackStatus999IsNotRetriedAsServerError(t *testing.T) {
	var n atomic.Int32
	c := setup(t, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(999)
	})
	_, err := c.MarkConversationRead(context.Background(), "1", "2")
	if n.Load() != 1 {
		t.Errorf("HTTP 999 sent %d requests (err %v); want no retry for a non-HTTP status", n.Load(), err)
	}
}

// lenientUnescape decodes every %XX in s and leaves the rest.
func lenientUnescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+3], "%02X", &c); err == nil {
				b.WriteByte(c)
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// P8: the token as a header NAME comes back canonicalised (Test-Access-Token-…), which the literal,
// case-sensitive scrub misses.
func TestAttackTokenAsHeaderNameCanonicalised(t *testing.T) {
	base := rawServer(t, func(token string) string {
		return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + token + ": x\r\nContent-Length: 25\r\n\r\n" + successBody
	})
	c, err := NewClient(WithBaseURL(base), WithToken(testToken))
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.MarkConversationRead(context.Background(), "1", "2")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.ToLower(fmt.Sprint(res.Header)), strings.ToLower(testToken)) {
		t.Errorf("Header carries the token case-folded: %v", res.Header)
	}
}

// P9: double JSON escaping and percent-encoding in a problem member and an undecodable body.
func TestAttackOtherEncodingsInBodies(t *testing.T) {
	dbl := strings.ReplaceAll(escapeJSON(testToken), `\`, `\\`)
	for name, body := range map[string]string{
		"double-escaped detail": `{"type":"about:blank","title":"x","detail":"` + dbl + `"}`,
		"percent detail":        `{"type":"about:blank","title":"x","detail":"` + percentEncodeAll(testToken) + `"}`,
		"percent html":          `<html>` + percentEncodeAll(testToken) + `</html>`,
	} {
		c := setup(t, reply(400, "application/problem+json", body), WithMaxRetries(0))
		_, err := c.MarkConversationRead(context.Background(), "1", "2")
		text := everyVerb(err)
		un := lenientUnescape(strings.ReplaceAll(text, `\\`, `\`))
		if leaks(text, testToken) || strings.Contains(un, testToken) || strings.Contains(string(unescapeJSON([]byte(strings.ReplaceAll(text, `\\`, `\`)))), testToken) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// P10: Error() length is unbounded: a 1 MiB body of problems makes a 1 MiB log line (the Body excerpt is
// capped at 200 characters, Problems are not).
func TestAttackErrorTextIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"errors":[`)
	for i := 0; i < 5000; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"detail":"` + strings.Repeat("A", 150) + `"}`)
	}
	b.WriteString(`]}`)
	c := setup(t, reply(400, "application/json", b.String()), WithMaxRetries(0))
	_, err := c.MarkConversationRead(context.Background(), "1", "2")
	if n := len(err.Error()); n > 4096 {
		t.Errorf("Error() is %d bytes long", n)
	}
}

// P11: hostile raw responses whose malformed parts carry control characters: every error stays one line.
func TestAttackRawResponsesStayOneLine(t *testing.T) {
	evil := "\x1b[31m\nmarkread: forged\r\u2028\u0085\u202e"
	for name, raw := range map[string]string{
		"status code":    "HTTP/1.1 2" + evil + " OK\r\n\r\n",
		"reason":         "HTTP/1.1 500 " + evil + "\r\nContent-Length: 0\r\n\r\n",
		"proto":          evil + " 200 OK\r\n\r\n",
		"content-length": "HTTP/1.1 200 OK\r\nContent-Length: " + evil + "\r\n\r\n",
		"transfer-enc":   "HTTP/1.1 200 OK\r\nTransfer-Encoding: " + evil + "\r\n\r\n",
		"header name":    "HTTP/1.1 200 OK\r\nX" + evil + ": v\r\n\r\n",
		"header value":   "HTTP/1.1 200 OK\r\nX-A: " + evil + "\r\nContent-Length: 0\r\n\r\n",
		"chunk":          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + evil + "\r\n",
		"location 301":   "HTTP/1.1 301 Moved\r\nLocation: http://" + evil + "/\r\nContent-Length: 0\r\n\r\n",
		"location 307":   "HTTP/1.1 307 Moved\r\nLocation: %zz" + evil + "\r\nContent-Length: 0\r\n\r\n",
		"content-type":   "HTTP/1.1 400 Bad\r\nContent-Type: " + evil + "\r\nContent-Length: 5\r\n\r\nhello",
		"retry-after":    "HTTP/1.1 503 X\r\nRetry-After: " + evil + "\r\nContent-Length: 0\r\n\r\n",
		"gzip":           "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 5\r\n\r\n" + "\x1b[31m\n",
		"body 200":       "HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\n" + (evil + strings.Repeat(" ", 30))[:30],
	} {
		t.Run(name, func(t *testing.T) {
			base := rawServer(t, func(string) string { return raw })
			var logs bytes.Buffer
			c, err := NewClient(WithBaseURL(base), WithToken(testToken), WithMaxRetries(1), WithBackoff(time.Millisecond, time.Millisecond),
				WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.MarkConversationRead(context.Background(), "1", "2")
			if err != nil && oneLineViolation(err.Error()) {
				t.Errorf("Error() = %q", err.Error())
			}
			if l := strings.TrimSuffix(logs.String(), "\n"); oneLineViolation(l) {
				t.Errorf("log = %q", logs.String())
			}
		})
	}
}

// P12: a zero Client (not from NewClient) panics instead of returning an error.
func TestAttackZeroClientDoesNotPanic(t *testing.T) {
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("zero Client panics: %v", r)
		}
	}()
	var c Client
	_, err := c.MarkConversationRead(context.Background(), "1", "2")
	t.Log(err)
}

// Held checks: the token at the excerpt cut, in invalid UTF-8 surroundings, as problem keys, in the
// status line and header values.
func TestAttackHeldEchoes(t *testing.T) {
	for name, body := range map[string]string{
		"raw at cut":          strings.Repeat("a", 190) + testToken + strings.Repeat("b", 300),
		"escaped at cut":      strings.Repeat("a", 190) + escapeJSON(testToken) + strings.Repeat("b", 300),
		"invalid utf8 around": "\xff\xfe" + testToken + "\xc3",
		"key":                 `{"type":"about:blank","title":"x","` + escapeJSON(testToken) + `":{"` + escapeJSON(testToken) + `":1}}`,
		"errors in success":   `{"data":{"success":true},"errors":[{"` + escapeJSON(testToken) + `":[["` + escapeJSON(testToken) + `"]]}]}`,
	} {
		for _, status := range []int{200, 400, 502} {
			c := setup(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-"+testToken, testToken)
				reply(status, "application/json", body)(w, r)
			}, WithMaxRetries(0))
			res, err := c.MarkConversationRead(context.Background(), "1", "2")
			text := everyVerb(err) + everyVerb(res)
			if res != nil {
				b, _ := json.Marshal(res.Problems)
				text += string(b) + fmt.Sprint(res.Header)
			}
			var apiErr *APIError
			if errors.As(err, &apiErr) {
				b, _ := json.Marshal(apiErr.Problems)
				text += string(b) + fmt.Sprint(apiErr.Header) + apiErr.Body
			}
			if leaks(text, testToken) {
				t.Errorf("%s %d: leaks", name, status)
			}
		}
	}
}
