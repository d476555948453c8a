package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// escapeJSON writes every byte of s as a \u00XX escape: the same text once decoded, other bytes on the wire.
func escapeJSON(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, `\u%04x`, s[i])
	}
	return b.String()
}

func TestJSONEscapedTokenEchoIsRedacted(t *testing.T) {
	body := `{"type":"about:blank","title":"Unauthorized","detail":"token ` + escapeJSON(testToken) +
		`","echo":"` + escapeJSON(testToken) + `","errors":[{"message":"` + escapeJSON(testToken) + `"}]}`
	c := setup(t, reply(401, "application/problem+json", body), WithMaxRetries(0))
	_, err := c.MarkConversationRead(context.Background(), "1", "2")
	var apiErr *APIError
	if !errors.As(err, &apiErr) || len(apiErr.Problems) != 2 {
		t.Fatalf("err = %v, want an *APIError with 2 problems", err)
	}
	text := fmt.Sprintf("%v %+v %#v %+v", err, err, err, apiErr.Problems)
	for _, p := range apiErr.Problems {
		for _, raw := range p.Extra {
			text += string(raw)
		}
	}
	if strings.Contains(text, testToken) {
		t.Error("the error or its problems carry the access token")
	}
	if !strings.Contains(apiErr.Problems[0].Detail, redacted) {
		t.Errorf("Detail = %q, want the token replaced by %s", apiErr.Problems[0].Detail, redacted)
	}
}

// TestTokenInAStatusLineIsRedacted: a raw server answers with the request's token as its status line,
// which net/http quotes in its error; neither the error nor the retry log may carry it.
func TestTokenInAStatusLineIsRedacted(t *testing.T) {
	addr := rawServer(t, func(token string) string {
		return "HTTP/1.1 " + token + " OK\r\nContent-Length: 0\r\n\r\n"
	})
	var logs bytes.Buffer
	c, err := NewClient(WithBaseURL(addr), WithToken(testToken), WithMaxRetries(1),
		WithBackoff(time.Millisecond, time.Millisecond), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.MarkConversationRead(context.Background(), "1", "2")
	if err == nil {
		t.Fatal("want an error for a malformed status line")
	}
	if text := fmt.Sprintf("%v %+v %#v", err, err, err) + logs.String(); strings.Contains(text, testToken) {
		t.Error("the error or the log carries the access token")
	}
	if !strings.Contains(err.Error(), redacted) || !strings.Contains(err.Error(), "after 2 attempts") {
		t.Errorf("err = %v, want the redacted status line and the attempt count", err)
	}
}

func TestCancelWhileWaitingForTheRateLimitKeepsTheAPIError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := newInProcessFaultServer(func(n int, w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set("x-rate-limit-remaining", "0")
			w.Header().Set("x-rate-limit-reset", strconv.FormatInt(time.Now().Add(5*time.Second).Unix(), 10))
			reply(429, "application/json", `{"errors":[{"code":88,"message":"Rate limit exceeded"}]}`)(w, r)
			return true
		})
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(time.Second, cancel) // while the client waits for the reset
		_, err := fs.client(t).MarkConversationRead(ctx, "1", "2")
		var apiErr *APIError
		if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrRateLimited) || !errors.As(err, &apiErr) {
			t.Fatalf("err = %v; want it to match context.Canceled, ErrRateLimited and *APIError", err)
		}
		if fs.requests.Load() != 1 {
			t.Errorf("%d requests, want 1: the cancel came during the wait", fs.requests.Load())
		}
	})
}

func TestRateLimitWithoutResetIsNotRetriedWhenWaitingIsOff(t *testing.T) {
	fs := newFaultServer(t, func(n int, w http.ResponseWriter, r *http.Request) bool {
		reply(429, "application/json", `{"errors":[{"code":88,"message":"Rate limit exceeded"}]}`)(w, r)
		return true
	})
	_, err := fs.client(t, WithMaxRateLimitWait(0)).MarkConversationRead(context.Background(), "1", "2")
	if !errors.Is(err, ErrRateLimited) || fs.requests.Load() != 1 {
		t.Errorf("got %v after %d requests; want the 429 after 1", err, fs.requests.Load())
	}
}

func TestMalformedErrorsMemberDoesNotHideSuccess(t *testing.T) {
	for body, want := range map[string]string{
		`{"data":{"success":true},"errors":"x"}`:                 `undecodable errors member: "x"`,
		`{"data":{"success":true},"errors":[1,{"title":"t"}]}`:   "undecodable error entry: 1",
		`{"data":{"success":true},"errors":[{"detail":"gone"}]}`: "gone",
	} {
		c := setup(t, reply(200, "application/json", body))
		res, err := c.MarkConversationRead(context.Background(), "1", "2")
		if err != nil || !res.Success || len(res.Problems) == 0 || res.Problems[0].Detail+res.Problems[0].Title != want {
			t.Errorf("body %s: got %+v, %v; want success with the problem %q", body, res, err, want)
		}
	}
}

func TestBaseURLKeepsEscapedPath(t *testing.T) {
	base, err := parseBaseURL("http://127.0.0.1:1/a%2Fb")
	if err != nil || base != "http://127.0.0.1:1/a%2Fb/" {
		t.Errorf("parseBaseURL = %q, %v; want the escaped slash kept", base, err)
	}
}
