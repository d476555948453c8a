package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestConnectionReusedAfterEveryOutcome: after answers of 200, 401, 429 and 500 in turn, every next
// request travels on a connection already open (httptrace's GotConnInfo.Reused), so error bodies are
// drained and closed like success bodies.
func TestConnectionReusedAfterEveryOutcome(t *testing.T) {
	const calls = 200
	fs := newFaultServer(t, func(n int, w http.ResponseWriter, r *http.Request) bool {
		switch n % 4 {
		case 1:
			reply(401, "application/problem+json", `{"type":"about:blank","title":"Unauthorized","status":401,"detail":"Unauthorized"}`)(w, r)
		case 2:
			w.Header().Set("x-rate-limit-reset", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
			reply(429, "application/json", `{"errors":[{"code":88,"message":"Rate limit exceeded"}]}`)(w, r)
		case 3:
			reply(500, "text/html", "<html>"+strings.Repeat("x", 2048)+"</html>")(w, r)
		default:
			return false
		}
		return true
	})
	c := fs.client(t, WithMaxRetries(0))
	outcomes := map[int]int{}
	for i := range calls {
		var reused bool
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
			GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused },
		})
		_, err := c.MarkConversationRead(ctx, "g1", strconv.Itoa(i+1))
		var apiErr *APIError
		switch {
		case err == nil:
			outcomes[200]++
		case errors.As(err, &apiErr):
			outcomes[apiErr.StatusCode]++
		default:
			t.Fatalf("call %d: %v", i, err)
		}
		if i > 0 && !reused {
			t.Errorf("call %d opened a new connection after a %d answer", i, []int{200, 401, 429, 500}[(i-1)%4])
		}
	}
	for _, status := range []int{200, 401, 429, 500} {
		if outcomes[status] != calls/4 {
			t.Errorf("%d answers with status %d, want %d", outcomes[status], status, calls/4)
		}
	}
}

// TestOversizedBodyDropsOnlyThatConnection: a body over the cap is not drained (that could take forever),
// so its connection is closed; the next call opens a fresh one and succeeds.
func TestOversizedBodyDropsOnlyThatConnection(t *testing.T) {
	fs := newFaultServer(t, func(n int, w http.ResponseWriter, r *http.Request) bool {
		if n == 1 {
			w.WriteHeader(500)
			_, _ = io.WriteString(w, strings.Repeat("x", 8192))
			return true
		}
		return false
	})
	c := fs.client(t, WithMaxResponseBytes(4096))
	if _, err := c.MarkConversationRead(context.Background(), "1", "2"); err == nil {
		t.Fatal("want ErrResponseTooLarge")
	}
	if _, err := c.MarkConversationRead(context.Background(), "1", "2"); err != nil {
		t.Fatalf("the call after an oversized body failed: %v", err)
	}
}
