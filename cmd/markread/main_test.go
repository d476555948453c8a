package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
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

func TestParseInterspersed(t *testing.T) {
	tests := []struct {
		args     []string
		wantPos  string
		wantJSON bool
	}{
		{[]string{"g1", "5"}, "[g1 5]", false},
		{[]string{"--json", "g1", "5"}, "[g1 5]", true},
		{[]string{"g1", "--json", "5"}, "[g1 5]", true},
		{[]string{"g1", "5", "--json"}, "[g1 5]", true},
		{[]string{"--", "--json", "5"}, "[--json 5]", false},
		{[]string{"g1", "--", "--json"}, "[g1 --json]", false},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		asJSON := fs.Bool("json", false, "")
		pos, err := parseInterspersed(fs, tt.args)
		if err != nil || fmt.Sprint(pos) != tt.wantPos || *asJSON != tt.wantJSON {
			t.Errorf("%q: got %v, json %v, err %v; want %s, json %v", tt.args, pos, *asJSON, err, tt.wantPos, tt.wantJSON)
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

// A token a server echoes back must not reach the output, even inside an error.
func TestReportScrubsTheToken(t *testing.T) {
	const token = "scrub-me-0123456789"
	var stdout, stderr bytes.Buffer
	report(outcome{Error: "X said: Bearer " + token, ExitCode: exitFailure}, true, []string{token}, &stdout, &stderr)
	if strings.Contains(stdout.String()+stderr.String(), token) {
		t.Error("report printed the token")
	}
	if !strings.Contains(stderr.String(), "[REDACTED]") {
		t.Errorf("stderr %q, want the token replaced", stderr.String())
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
