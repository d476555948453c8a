package api

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestConnectionReusedAfterEveryOutcome: 10 000 sequential calls answered 200, 401, 429 and 500 in turn
// must all travel on one TCP connection, so error bodies are drained and closed like success bodies.
func TestConnectionReusedAfterEveryOutcome(t *testing.T) {
	const calls = 10000
	var served atomic.Int32
	var newConns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := served.Add(1)
		switch n % 4 {
		case 0:
			reply(200, "application/json", successBody)(w, r)
		case 1:
			reply(401, "application/problem+json", `{"type":"about:blank","title":"Unauthorized","status":401,"detail":"Unauthorized"}`)(w, r)
		case 2:
			w.Header().Set("x-rate-limit-reset", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
			reply(429, "application/json", `{"errors":[{"code":88,"message":"Rate limit exceeded"}]}`)(w, r)
		case 3:
			reply(500, "text/html", "<html>"+strings.Repeat("x", 2048)+"</html>")(w, r)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			newConns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c, err := NewClient(WithBaseURL(srv.URL), WithToken(testToken), WithMaxRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	outcomes := map[int]int{}
	for i := range calls {
		_, err := c.MarkConversationRead(context.Background(), "g1", strconv.Itoa(i+1))
		status := 200
		if apiErr, ok := err.(*APIError); ok {
			status = apiErr.StatusCode
		} else if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		outcomes[status]++
	}
	if served.Load() != calls {
		t.Fatalf("server answered %d requests, want %d", served.Load(), calls)
	}
	for _, status := range []int{200, 401, 429, 500} {
		if outcomes[status] != calls/4 {
			t.Errorf("%d answers with status %d, want %d", outcomes[status], status, calls/4)
		}
	}
	if n := newConns.Load(); n != 1 {
		t.Errorf("%d calls opened %d TCP connections, want 1", calls, n)
	}
}

// TestOversizedBodyDropsOnlyThatConnection: a body over the cap is not drained (that could take forever),
// so its connection is closed; the next call opens a fresh one and succeeds.
func TestOversizedBodyDropsOnlyThatConnection(t *testing.T) {
	var served atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1) == 1 {
			w.WriteHeader(500)
			_, _ = io.WriteString(w, strings.Repeat("x", 8192))
			return
		}
		reply(200, "application/json", successBody)(w, r)
	}))
	defer srv.Close()
	c, err := NewClient(WithBaseURL(srv.URL), WithToken(testToken), WithMaxResponseBytes(4096))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.MarkConversationRead(context.Background(), "1", "2"); err == nil {
		t.Fatal("want ErrResponseTooLarge")
	}
	if _, err := c.MarkConversationRead(context.Background(), "1", "2"); err != nil {
		t.Fatalf("the call after an oversized body failed: %v", err)
	}
}
