package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestServerTextStaysOnOneLine: line breaks, ANSI escapes and bidi overrides a server puts in its
// problems come out escaped in Error(), and as received on the typed values.
func TestServerTextStaysOnOneLine(t *testing.T) {
	detail := "bad\nmarkread: forged line\r\x1b[31mred\x1b[0m \u202egnp.exe"
	body, _ := json.Marshal(map[string]any{"type": "about:blank", "title": "t\x07", "detail": detail})
	c := setup(t, reply(400, "application/problem+json", string(body)), WithMaxRetries(0))
	_, err := c.MarkConversationRead(context.Background(), "1", "2")
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("err = %v", err)
	}
	text := err.Error()
	if strings.ContainsAny(text, "\n\r\x1b\x07\u202e") {
		t.Errorf("Error() = %q, want control characters escaped", text)
	}
	if !strings.Contains(text, `bad\nmarkread: forged line\r\x1b[31mred`) || !strings.Contains(text, `\u202e`) {
		t.Errorf("Error() = %q, want the escapes shown", text)
	}
	if apiErr.Problems[0].Detail != detail {
		t.Errorf("Detail = %q, want it as received", apiErr.Problems[0].Detail)
	}
}

func TestMalformedErrorsMemberDoesNotHideSuccess(t *testing.T) {
	for body, want := range map[string]Problem{
		`{"data":{"success":true},"errors":"x"}`: {Detail: "an errors member that is not a list",
			Extra: map[string]json.RawMessage{"errors": json.RawMessage(`"x"`)}},
		`{"data":{"success":true},"errors":[1,{"title":"t"}]}`: {Detail: "an error entry that is not an object",
			Extra: map[string]json.RawMessage{"entry": json.RawMessage(`1`)}},
		`{"data":{"success":true},"errors":[{"detail":"gone"}]}`: {Detail: "gone"},
	} {
		c := setup(t, reply(200, "application/json", body))
		res, err := c.MarkConversationRead(context.Background(), "1", "2")
		if err != nil || !res.Success || len(res.Problems) == 0 || !reflect.DeepEqual(res.Problems[0], want) {
			t.Errorf("body %s: got %+v, %v; want success with the problem %+v", body, res, err, want)
		}
	}
}

// badForOneLine lists what must never reach Error() raw.
const badForOneLine = "\n\r\x1b\x07\x00\u0085\u2028\u2029\u202e\u200f"

func oneLineViolation(s string) bool { return strings.ContainsAny(s, badForOneLine) }

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

// A malformed header line, which net/textproto quotes raw in its error, comes out escaped on one line.
func TestMalformedHeaderLineStaysOneLine(t *testing.T) {
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

// A status above 599 (Go accepts any three digits) is not a 5xx: it is not retried.
func TestStatusBeyond599IsNotRetried(t *testing.T) {
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

// Error() stays a log line however many problems the server sends.
func TestErrorTextIsBounded(t *testing.T) {
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

// Raw responses whose malformed parts carry control characters: every error and log line stays one line.
func TestRawResponsesStayOneLine(t *testing.T) {
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

// A body of many tiny problems would take a hundred times its size decoded: at most 100 are decoded, the
// rest kept as sent, so nothing is dropped and memory stays bounded.
func TestManyProblemsStayBounded(t *testing.T) {
	body := `{"errors":[` + strings.Repeat(`1,`, 20_000) + `{"title":"last"}]}`
	c := setup(t, reply(400, "application/json", body), WithMaxRetries(0))
	_, err := c.MarkConversationRead(context.Background(), "1", "2")
	var apiErr *APIError
	if !errors.As(err, &apiErr) || len(apiErr.Problems) != 101 {
		t.Fatalf("err = %v; want an *APIError with 100 problems and one holding the rest", err)
	}
	rest := apiErr.Problems[100]
	var kept []json.RawMessage
	if json.Unmarshal(rest.Extra["entries"], &kept) != nil || len(kept) != 20_001-100 || string(kept[len(kept)-1]) != `{"title":"last"}` {
		t.Errorf("the rest: %s (%d entries); want the 19 901 entries past the first 100, as sent", rest.Detail, len(kept))
	}
}
