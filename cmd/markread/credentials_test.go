package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/xchat-go/markread/api"
	"github.com/xchat-go/markread/api/apitest"
)

// writeTokenFile keeps tok where markread login would, and returns the file's path.
func writeTokenFile(t *testing.T, tok *oauth2.Token) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "token.json")
	store, err := api.NewFileTokenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Save(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	return path
}

func with(env map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range env {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

var oauth1Env = map[string]string{
	"X_OAUTH1_CONSUMER_KEY":        "consumer-key-0123",
	"X_OAUTH1_CONSUMER_SECRET":     "consumer-secret-0123",
	"X_OAUTH1_ACCESS_TOKEN":        "1-access-token-0123",
	"X_OAUTH1_ACCESS_TOKEN_SECRET": "access-token-secret-0123",
}

// Credentials of two kinds, or half of OAuth 1.0a's: a usage error naming them, and nothing sent.
func TestMarkTakesOneKindOfCredentials(t *testing.T) {
	srv := apitest.NewServer()
	defer srv.Close()
	stored := writeTokenFile(t, &oauth2.Token{AccessToken: "stored-access-token", RefreshToken: "stored-refresh-token", Expiry: time.Now().Add(time.Hour)})
	base := map[string]string{"X_API_BASE_URL": srv.URL}
	for _, tt := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"half of OAuth 1.0a", with(base, "X_OAUTH1_CONSUMER_KEY", "k-0123", "X_OAUTH1_ACCESS_TOKEN", "t-0123"), nil,
			"OAuth 1.0a needs all four of X_OAUTH1_CONSUMER_KEY, X_OAUTH1_CONSUMER_SECRET, X_OAUTH1_ACCESS_TOKEN, X_OAUTH1_ACCESS_TOKEN_SECRET; X_OAUTH1_CONSUMER_SECRET, X_OAUTH1_ACCESS_TOKEN_SECRET not set"},
		{"OAuth 1.0a and a token", with(with(base, "X_ACCESS_TOKEN", apitest.DefaultToken), "X_OAUTH1_CONSUMER_KEY", "k-0123"), nil,
			"credentials from X_OAUTH1_* and X_ACCESS_TOKEN: give one kind only"},
		{"OAuth 1.0a and a file", with(base, "X_OAUTH1_CONSUMER_SECRET", "s-0123"), []string{"--token-file", stored},
			"credentials from X_OAUTH1_* and --token-file"},
		{"a token and a file", with(base, "X_ACCESS_TOKEN", apitest.DefaultToken), []string{"--token-file", stored},
			"credentials from X_ACCESS_TOKEN and --token-file"},
		{"a stored token without the app", base, []string{"--token-file", stored},
			"X_CLIENT_ID is not set: renewing the token in " + stored + " needs your X app's OAuth 2.0 client ID"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runMarkread(t, tt.env, append(tt.args, "g1", "5")...)
			if code != exitUsage || !strings.Contains(stderr, tt.want) || strings.Count(stderr, "\n") != 1 || stdout != "" {
				t.Errorf("exit %d, stderr %q; want 2 and one line saying %q", code, stderr, tt.want)
			}
			noSecrets(t, []string{stdout, stderr}, "k-0123", "t-0123", "s-0123", apitest.DefaultToken)
		})
	}
	if srv.Requests() != 0 {
		t.Errorf("the server saw %d requests, want 0", srv.Requests())
	}
}

// A token file that cannot be used: exit 2 naming the file, or 3 when only logging in again helps; the
// token never shows.
func TestMarkWithABadTokenFile(t *testing.T) {
	srv := apitest.NewServer()
	defer srv.Close()
	env := map[string]string{"X_API_BASE_URL": srv.URL, "X_CLIENT_ID": "app"}
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return path
	}
	const secret = "file-access-token-5a9d"
	tests := []struct {
		name string
		path string
		code int
	}{
		{"a directory", dir, exitUsage},
		{"corrupt", write("corrupt.json", `{"access_token":"`+secret, 0o600), exitUsage},
		{"a newer version's", write("newer.json", `{"access_token":"`+secret+`","written_by_markread_9":true}`, 0o600), exitUsage},
		{"expired, with no refresh token", write("expired.json", `{"access_token":"`+secret+`","expiry":"2001-01-01T00:00:00Z"}`, 0o600), exitAuth},
	}
	if runtime.GOOS != "windows" {
		tests = append(tests, struct {
			name string
			path string
			code int
		}{"readable by others", write("open.json", `{"access_token":"`+secret+`","refresh_token":"r-0123456789"}`, 0o644), exitUsage})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runMarkread(t, env, "--token-file", tt.path, "g1", "5")
			// Through the Client, the source's words (naming the file) come with the client-core change,
			// which passes a token source's error through; until then only the exit code is checked there.
			if code != tt.code || tt.code != exitAuth && !strings.Contains(stderr, tt.path) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("exit %d, stderr %q; want %d and one line naming the file", code, stderr, tt.code)
			}
			noSecrets(t, []string{stdout, stderr}, secret)
		})
	}
	if srv.Requests() != 0 {
		t.Errorf("the server saw %d requests, want 0", srv.Requests())
	}
}

// issueStored logs the fake user in through a registered app and keeps the token in a file, expired, so
// that the next mark renews it.
func issueStored(t *testing.T, secret string, opts ...apitest.Option) (*apitest.Server, *oauth2.Token, string) {
	t.Helper()
	srv := apitest.NewServer(append([]apitest.Option{apitest.WithOAuthClient("app", secret, defaultRedirectURI)}, opts...)...)
	t.Cleanup(srv.Close)
	tok, err := srv.IssueToken("app")
	if err != nil {
		t.Fatal(err)
	}
	tok.Expiry = time.Now().Add(-time.Minute)
	return srv, tok, writeTokenFile(t, tok)
}

func TestMarkRenewsTheStoredToken(t *testing.T) {
	srv, tok, path := issueStored(t, "")
	env := with(oauthEnv(srv, "app"))
	code, stdout, stderr := runMarkread(t, env, "--token-file", path, "g1", "5")
	if code != exitOK || srv.RefreshRequests() != 1 {
		t.Fatalf("exit %d, %d refreshes, stderr %q; want 0 after one refresh", code, srv.RefreshRequests(), stderr)
	}
	if seq, _ := srv.ReadState(tok.AccessToken, "g1"); seq != "5" {
		t.Errorf("server state %q, want 5 (any of the user's tokens reads it)", seq)
	}
	renewed, err := loadToken(t, path)
	if err != nil || renewed.AccessToken == tok.AccessToken {
		t.Fatalf("the renewed token was not saved: %v", err)
	}
	noSecrets(t, []string{stdout, stderr}, tok.AccessToken, tok.RefreshToken, renewed.AccessToken, renewed.RefreshToken)
}

// The user revoked the app: the refresh is refused (invalid_grant), exit 3 saying to log in again.
func TestMarkWithARevokedLoginExits3(t *testing.T) {
	srv, tok, path := issueStored(t, "")
	srv.RevokeRefreshTokens()
	code, stdout, stderr := runMarkread(t, oauthEnv(srv, "app"), "--token-file", path, "g1", "5")
	if code != exitAuth || strings.Count(stderr, "\n") != 1 { // the words: see TestMarkWithABadTokenFile
		t.Errorf("exit %d, stderr %q; want 3, one line naming the file and markread login", code, stderr)
	}
	if srv.Requests() != 0 {
		t.Errorf("the API saw %d requests, want 0", srv.Requests())
	}
	noSecrets(t, []string{stdout, stderr}, tok.AccessToken, tok.RefreshToken)
}

// The token endpoint refuses the app (a wrong client secret): exit 3, saying what to check.
func TestMarkWhenTheAppIsRefusedExits3(t *testing.T) {
	srv, tok, path := issueStored(t, "the-right-secret-6b0e")
	env := with(oauthEnv(srv, "app"), "X_CLIENT_SECRET", "a-wrong-secret-2c7f")
	code, stdout, stderr := runMarkread(t, env, "--token-file", path, "g1", "5")
	if code != exitAuth || !strings.Contains(stderr, "X_CLIENT_SECRET") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("exit %d, stderr %q; want 3 and one line naming X_CLIENT_SECRET", code, stderr)
	}
	noSecrets(t, []string{stdout, stderr}, "a-wrong-secret-2c7f", tok.AccessToken, tok.RefreshToken)
}

// A token endpoint that cannot be reached is a failure like any network one: exit 1, not a usage error.
func TestMarkWhenRenewalCannotConnectExits1(t *testing.T) {
	srv, _, path := issueStored(t, "")
	ln, redirect := listenLoopback(t)
	_ = ln.Close()
	env := with(oauthEnv(srv, "app"), "MARKREAD_TOKEN_URL", strings.TrimSuffix(redirect, "/callback")+apitest.TokenPath)
	if code, _, stderr := runMarkread(t, env, "--max-retries", "0", "--token-file", path, "g1", "5"); code != exitFailure {
		t.Errorf("exit %d, stderr %q; want 1", code, stderr)
	}
}

func TestMarkWithOAuth1(t *testing.T) {
	srv := apitest.NewServer(apitest.WithOAuth1(oauth1Env["X_OAUTH1_CONSUMER_KEY"], oauth1Env["X_OAUTH1_CONSUMER_SECRET"],
		oauth1Env["X_OAUTH1_ACCESS_TOKEN"], oauth1Env["X_OAUTH1_ACCESS_TOKEN_SECRET"]))
	defer srv.Close()
	code, stdout, stderr := runMarkread(t, with(oauth1Env, "X_API_BASE_URL", srv.URL), "g1", "5")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if seq, _ := srv.ReadState(oauth1Env["X_OAUTH1_ACCESS_TOKEN"], "g1"); seq != "5" {
		t.Errorf("server state %q, want 5", seq)
	}

	wrong := with(oauth1Env, "X_API_BASE_URL", srv.URL, "X_OAUTH1_ACCESS_TOKEN_SECRET", "a-wrong-token-secret-0123")
	code, stdout2, stderr2 := runMarkread(t, wrong, "g1", "6")
	if code != exitAuth || !strings.Contains(stderr2, "X_OAUTH1_*") {
		t.Errorf("a wrong secret: exit %d, stderr %q; want 3 naming X_OAUTH1_*", code, stderr2)
	}
	var secrets []string
	for _, v := range oauth1Env {
		secrets = append(secrets, v)
	}
	noSecrets(t, []string{stdout, stderr, stdout2, stderr2}, append(secrets, "a-wrong-token-secret-0123")...)
}

// A token endpoint that echoes what it was sent, in its error code, description and body: the refresh
// token and the client secret reach no output of the mark command.
func TestMarkRenewalAgainstAnEchoingTokenEndpoint(t *testing.T) {
	hostile := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		echo := strings.ReplaceAll(r.Header.Get("Authorization")+" "+string(body), `"`, `'`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":"%s","error_description":"%s"}`, echo, echo)
	}))
	defer hostile.Close()
	const secret = "client-secret-echoed-3a8f"
	srv, tok, path := issueStored(t, secret)
	env := with(oauthEnv(srv, "app"), "X_CLIENT_SECRET", secret, "MARKREAD_TOKEN_URL", hostile.URL)
	for _, args := range [][]string{{"g1", "5"}, {"g1", "5", "--json"}} {
		code, stdout, stderr := runMarkread(t, env, append([]string{"--max-retries", "0", "--token-file", path}, args...)...)
		if code == exitOK || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%q: exit %d, stderr %q; want a failure on one line", args, code, stderr)
		}
		basic := base64.StdEncoding.EncodeToString([]byte("app:" + secret))
		noSecrets(t, []string{stdout, stderr}, secret, basic, tok.RefreshToken, url.QueryEscape(tok.RefreshToken), tok.AccessToken)
	}
}
