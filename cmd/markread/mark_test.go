package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

const testToken = "test-secret-token-0123456789abc"

// runMarkread runs the command in-process with env as its whole environment.
func runMarkread(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, func(k string) string { return env[k] }, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// A 307 to another origin is no success, though the target answers as X does.
func TestMarkRefusesARedirectToAnotherOrigin(t *testing.T) {
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
	code, out, errOut := runMarkread(t, map[string]string{"X_ACCESS_TOKEN": testToken, "X_API_BASE_URL": srv.URL}, "g1", "5")
	if code != exitFailure {
		t.Errorf("exit %d (%q %q), want 1: the mark went to another origin", code, out, errOut)
	}
}

// What the caller typed reaches stderr escaped: a flag's name, a path.
func TestMarkQuotesTheCallersInput(t *testing.T) {
	for _, args := range [][]string{
		{"--\x1b[31mevil\nmarkread: forged", "g1", "5"},
		{"--token-file", filepath.Join(t.TempDir(), "no\x1b[2Jsuch\nfile"), "g1", "5"},
	} {
		_, _, errOut := runMarkread(t, map[string]string{"X_CLIENT_ID": "app"}, args...)
		if strings.ContainsAny(strings.TrimSuffix(errOut, "\n"), "\x1b\n") {
			t.Errorf("args %q: stderr %q carries raw control characters", args, errOut)
		}
	}
}

// A secret in the base URL (user info, a query, a fragment) is not printed.
func TestMarkDoesNotPrintTheBaseURLsSecrets(t *testing.T) {
	const pw = "hunter2-base-url-secret"
	for _, u := range []string{"https://u:" + pw + "@api.x.com", "https://api.x.com/?access_token=" + pw, "https://api.x.com/#" + pw, "http://" + pw + ".example"} {
		_, out, errOut := runMarkread(t, map[string]string{"X_ACCESS_TOKEN": testToken}, "--json", "--base-url", u, "g1", "5")
		if strings.Contains(out+errOut, pw) {
			t.Errorf("base URL secret echoed: %s %s", out, errOut)
		}
	}
}

// One sequence-ID rule: the command refuses what ValidateSequenceID refuses, and nothing is sent.
func TestMarkRefusesWhatValidateSequenceIDRefuses(t *testing.T) {
	var hits int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer srv.Close()
	for _, seq := range []string{"+5", "-5", "5 ", " 5", "0x10", "١٢", "５", "1e3", "1_000", "g1940387460021112832", "1:2", "1-2", ""} {
		code, _, errOut := runMarkread(t, map[string]string{"X_ACCESS_TOKEN": testToken, "X_API_BASE_URL": srv.URL}, "1940387512345678901", seq)
		// The api's own prefix goes with the client-core change; the command adds one, once.
		if code != exitUsage || !strings.HasPrefix(errOut, "markread: ") || strings.Count(errOut, "\n") != 1 {
			t.Errorf("seq %q: exit %d, stderr %q", seq, code, errOut)
		}
	}
	if hits != 0 {
		t.Errorf("%d requests sent", hits)
	}
}

// A renewal's exit code follows its cause: 3 only when the token endpoint refuses the credentials
// (invalid_grant, invalid_client, a 401); its 5xx or a redirect is a failure like any network one, 1,
// so that a script does not ask for a new login each time X's endpoint hiccups. Nothing reaches the API.
func TestMarkRenewalFailuresExitByCause(t *testing.T) {
	answer := func(status int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprint(w, body)
		}
	}
	for _, c := range []struct {
		name     string
		endpoint http.HandlerFunc
		want     int
	}{
		{"invalid_grant", answer(http.StatusBadRequest, `{"error":"invalid_grant"}`), exitAuth},
		{"invalid_client", answer(http.StatusUnauthorized, `{"error":"invalid_client"}`), exitAuth},
		{"a 401 without a code", answer(http.StatusUnauthorized, `{}`), exitAuth},
		{"a 500", answer(http.StatusInternalServerError, `{"error":"server_error"}`), exitFailure},
		{"a 503", answer(http.StatusServiceUnavailable, `oops`), exitFailure},
		{"a redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://elsewhere.example/token", http.StatusTemporaryRedirect)
		}, exitFailure},
	} {
		t.Run(c.name, func(t *testing.T) {
			tokenEndpoint := httptest.NewServer(c.endpoint)
			defer tokenEndpoint.Close()
			srv, tok, path := issueStored(t, "")
			env := with(oauthEnv(srv, "app"), "MARKREAD_TOKEN_URL", tokenEndpoint.URL)
			// No retries: the exit code by cause is the point, not the Client's backoff after X's hiccup.
			code, stdout, stderr := runMarkread(t, env, "--max-retries", "0", "--token-file", path, "g1", "5")
			if code != c.want || strings.Count(stderr, "\n") != 1 {
				t.Errorf("exit %d, stderr %q; want %d and one line", code, stderr, c.want)
			}
			if srv.Requests() != 0 {
				t.Errorf("the API saw %d requests, want 0", srv.Requests())
			}
			noSecrets(t, []string{stdout, stderr}, tok.AccessToken, tok.RefreshToken)
		})
	}
}

// The defaults work together: serve --client-id ID registers login's default callback, which must not be
// on serve's own port.
func TestServesDefaultPortIsNotLoginsDefaultCallbacks(t *testing.T) {
	redirect, err := parseRedirectURI(defaultRedirectURI)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(defaultServeAddr, ":"+redirect.Port()) {
		t.Errorf("serve listens on %s by default, the port of login's default callback %s", defaultServeAddr, defaultRedirectURI)
	}
}
