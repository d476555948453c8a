package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

const probeToken = "probe-secret-token-0123456789abc"

func runProbe(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, func(k string) string { return env[k] }, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func pctAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, "%%%02X", s[i])
	}
	return b.String()
}

// C1: a 307 to an unreachable URL whose path is the token percent-encoded reaches stderr and --json.
func TestAttackCLIPercentEncodedTokenInRedirect(t *testing.T) {
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := dead.Addr().String()
	dead.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		w.Header().Set("Location", "http://"+addr+"/"+pctAll(tok))
		w.WriteHeader(http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	for _, asJSON := range []bool{false, true} {
		args := []string{"--max-retries", "0", "g1", "5"}
		if asJSON {
			args = append(args, "--json")
		}
		_, out, errOut := runProbe(t, map[string]string{"X_ACCESS_TOKEN": probeToken, "X_API_BASE_URL": srv.URL}, args...)
		if strings.Contains(out+errOut, pctAll(probeToken)) {
			t.Errorf("json %v: output carries the token percent-encoded: %s%s", asJSON, out, errOut)
		}
	}
}

// C2: a 307 to another origin: exit 0, "marked", though the target got no token.
func TestAttackCLICrossOrigin307(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"data":{"success":true}}`))
	}))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", other.URL+r.URL.Path)
		w.WriteHeader(http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	code, out, errOut := runProbe(t, map[string]string{"X_ACCESS_TOKEN": probeToken, "X_API_BASE_URL": srv.URL}, "g1", "5")
	if code == exitOK {
		t.Errorf("exit 0 (%q %q) though the mark went unauthenticated to another origin", out, errOut)
	}
}

// C3: caller input with control characters reaches stderr raw (flag names, token-file paths).
func TestAttackCLICallerInputIsQuoted(t *testing.T) {
	for _, args := range [][]string{
		{"--\x1b[31mevil\nmarkread: forged", "g1", "5"},
		{"--token-file", filepath.Join(t.TempDir(), "no\x1b[2Jsuch\nfile"), "g1", "5"},
	} {
		_, _, errOut := runProbe(t, map[string]string{}, args...)
		if strings.ContainsAny(strings.TrimSuffix(errOut, "\n"), "\x1b\n") {
			t.Errorf("args %q: stderr %q carries raw control characters", args, errOut)
		}
	}
}

// C4: base-URL secrets via the CLI.
func TestAttackCLIBaseURLNotEchoed(t *testing.T) {
	const pw = "hunter2-base-url-secret"
	for _, u := range []string{"https://u:" + pw + "@api.x.com", "https://api.x.com/?access_token=" + pw, "https://api.x.com/#" + pw, "http://" + pw + ".example"} {
		_, out, errOut := runProbe(t, map[string]string{"X_ACCESS_TOKEN": probeToken}, "--json", "--base-url", u, "g1", "5")
		if strings.Contains(out+errOut, pw) {
			t.Errorf("base URL secret echoed: %s %s", out, errOut)
		}
	}
}

// C5: one sequence-ID rule: the CLI refuses what ValidateSequenceID refuses, and nothing is sent.
func TestAttackCLISequenceIDs(t *testing.T) {
	var hits int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer srv.Close()
	for _, seq := range []string{"+5", "-5", "5 ", " 5", "0x10", "١٢", "５", "1e3", "1_000", "g1940387460021112832", "1:2", "1-2", ""} {
		code, _, errOut := runProbe(t, map[string]string{"X_ACCESS_TOKEN": probeToken, "X_API_BASE_URL": srv.URL}, "1940387512345678901", seq)
		// The api's own prefix goes with the client-core change; the command adds one, once.
		if code != exitUsage || !strings.HasPrefix(errOut, "markread: ") || strings.Count(errOut, "\n") != 1 {
			t.Errorf("seq %q: exit %d, stderr %q", seq, code, errOut)
		}
	}
	if hits != 0 {
		t.Errorf("%d requests sent", hits)
	}
}

// C6: the help says --max-retries covers 5xx; a 503 with Retry-After above the backoff maximum (8s) is
// not retried at all, while the same 503 without the header is.
