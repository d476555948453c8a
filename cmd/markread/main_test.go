package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xchat-go/markread/api/apitest"
)

// In-process tests of run: the parts the end-to-end tests cannot reach cheaply.

// GNU flags anywhere among the arguments, "--" ending them, and "-5" an argument, not a flag.
func TestMarkFlagsAndArguments(t *testing.T) {
	srv := apitest.NewServer()
	defer srv.Close()
	env := map[string]string{"X_ACCESS_TOKEN": apitest.DefaultToken, "X_API_BASE_URL": srv.URL}
	for _, c := range []struct {
		args []string
		code int
		want string // in stdout or stderr
	}{
		{[]string{"g1", "5", "--json"}, exitOK, `"success":true`},
		{[]string{"--json", "g1", "6"}, exitOK, `"success":true`},
		{[]string{"g1", "--timeout=5s", "7"}, exitOK, "marked g1 read up to 7"},
		{[]string{"--", "g1", "8"}, exitOK, "marked g1 read up to 8"},
		{[]string{"g1", "-5"}, exitUsage, "(the second argument, <seen-until-sequence-id>)"},
		{[]string{"g1", "--", "-5"}, exitUsage, "(the second argument, <seen-until-sequence-id>)"},
		{[]string{"g1", "5", "--max-retries", "-1"}, exitUsage, "markread: --max-retries must be at least 0; got -1"},
		{[]string{"g1", "5", "--timeout", "0s"}, exitUsage, "markread: --timeout must be positive"},
		{[]string{"g1", "5", "--timeout", "soon"}, exitUsage, `markread: invalid argument "soon" for "--timeout" flag`},
		{[]string{"g1", "5", "--tokn"}, exitUsage, "unknown flag: --tokn (markread --help)"},
		{[]string{"g1", "5", "--json=maybe"}, exitUsage, `invalid argument "maybe" for "--json" flag`},
		{[]string{"g1", "5", "--base-url"}, exitUsage, "flag needs an argument: --base-url"},
		{[]string{"-h"}, exitOK, "Exit codes:"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), c.args, func(k string) string { return env[k] }, &stdout, &stderr)
		if code != c.code || !strings.Contains(stdout.String()+stderr.String(), c.want) || strings.Count(stderr.String(), "\n") > 1 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit %d saying %q on one line", c.args, code, stdout.String(), stderr.String(), c.code, c.want)
		}
	}
}

func TestRunInProcess(t *testing.T) {
	srv := apitest.NewServer()
	defer srv.Close()
	env := map[string]string{"X_ACCESS_TOKEN": apitest.DefaultToken, "X_API_BASE_URL": srv.URL}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"g1", "12"}, func(k string) string { return env[k] }, &stdout, &stderr)
	if code != exitOK || stderr.Len() != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	if seq, _ := srv.ReadState(apitest.DefaultToken, "g1"); seq != "12" {
		t.Errorf("server state %q, want 12", seq)
	}
}

func TestServeStopsWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0"}, func(string) string { return "" }, &stdout, &stderr)
	}()
	for !strings.Contains(stdout.String(), "http://127.0.0.1:") {
		select {
		case code := <-done:
			t.Fatalf("serve exited %d early: %s", code, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if !strings.Contains(stdout.String(), apitest.DefaultToken) {
		t.Errorf("serve without a token should show the default test token: %q", stdout.String())
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("exit %d after cancel, want 0; stderr %q", code, stderr.String())
	}
}

// lockedBuffer is a bytes.Buffer that a test can read while run writes to it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A 429 whose reset is already past (a skewed clock) must not be reported as "in -6s".
func TestRateLimitWithAPastResetNamesNoNegativeWait(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("x-rate-limit-remaining", "0")
		w.Header().Set("x-rate-limit-reset", strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"errors":[{"code":88,"message":"Rate limit exceeded"}]}`))
	}))
	defer srv.Close()
	env := map[string]string{"X_ACCESS_TOKEN": "token-for-this-test", "X_API_BASE_URL": srv.URL}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"g1", "12"}, func(k string) string { return env[k] }, &stdout, &stderr)
	if code != exitRateLimited || strings.Contains(stderr.String(), "(in -") || !strings.Contains(stderr.String(), "no reset time") {
		t.Errorf("exit %d, stderr %q; want exit 4 without a negative wait", code, stderr.String())
	}
}
