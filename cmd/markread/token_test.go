package main

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

func TestDescribeToken(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	all := "users.read dm.write tweet.read offline.access"
	for _, tt := range []struct {
		name string
		tok  *oauth2.Token
		want []string
	}{
		{"fresh", (&oauth2.Token{AccessToken: "access-token-0123", RefreshToken: "refresh-token-0123", Expiry: now.Add(2 * time.Hour)}).WithExtra(map[string]any{"scope": all}),
			[]string{"access token: expires at 2026-03-01T14:00:00Z (in 2h)", "refresh token: yes", "scopes: " + all + "\n"}},
		{"expired, renewable", &oauth2.Token{AccessToken: "access-token-0123", RefreshToken: "refresh-token-0123", Expiry: now.Add(-time.Minute)},
			[]string{"expired at 2026-03-01T11:59:00Z; markread renews it when next used", "scopes: not recorded"}},
		{"expired for good", &oauth2.Token{AccessToken: "access-token-0123", Expiry: now.Add(-time.Minute)},
			[]string{"with no refresh token, run markread login", "refresh token: none (offline.access was not granted)"}},
		{"in seconds", &oauth2.Token{AccessToken: "access-token-0123", Expiry: now.Add(42 * time.Second)}, []string{"(in 42s)"}},
		{"no expiry", &oauth2.Token{AccessToken: "access-token-0123"}, []string{"access token: no expiry recorded"}},
		{"without dm.write", (&oauth2.Token{AccessToken: "access-token-0123", Expiry: now.Add(time.Hour)}).WithExtra(map[string]any{"scope": "users.read tweet.read"}),
			[]string{"scopes: users.read tweet.read (without dm.write, X refuses to mark conversations read: run markread login again)"}},
		{"a terminal escape in the scope", (&oauth2.Token{AccessToken: "access-token-0123", Expiry: now.Add(time.Hour)}).WithExtra(map[string]any{"scope": all + " users.read\x1b[2J"}),
			[]string{"scopes: " + all + ` users.read\x1b[2J` + "\n"}},
		{"the token's own tokens in the scope", (&oauth2.Token{AccessToken: "ownaccesstoken", RefreshToken: "own.refresh.token", Expiry: now.Add(time.Hour)}).
			WithExtra(map[string]any{"scope": all + " ownaccesstoken own.refresh.token"}),
			[]string{"scopes: " + all + " [REDACTED] [REDACTED]\n"}},
	} {
		got := describeToken(tt.tok, now)
		for _, want := range tt.want {
			if !strings.Contains(got, want) {
				t.Errorf("%s: %q does not say %q", tt.name, got, want)
			}
		}
		if strings.Count(got, "\n") != 3 || strings.Contains(got, "\x1b") {
			t.Errorf("%s: %q, want three printable lines", tt.name, got)
		}
		noSecrets(t, []string{got}, "ownaccesstoken", "own.refresh.token")
	}
}

func TestTokenAndLogout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "markread", "token.json")
	const access, refresh = "status-access-token-4e1b", "status-refresh-token-8c2d"

	code, stdout, stderr := runMarkread(t, nil, "token", "--token-file", path)
	if code != exitAuth || !strings.Contains(stderr, path) || !strings.Contains(stderr, "markread login") || stdout != "" {
		t.Errorf("no token: exit %d, stdout %q, stderr %q; want 3 naming the file and markread login", code, stdout, stderr)
	}

	tok := (&oauth2.Token{AccessToken: access, RefreshToken: refresh, Expiry: time.Now().Add(-time.Hour)}).
		WithExtra(map[string]any{"scope": "users.read dm.write tweet.read offline.access"})
	writeTokenFileAt(t, path, tok)
	code, stdout, stderr = runMarkread(t, nil, "token", "--token-file", path)
	if code != exitOK || !strings.Contains(stdout, "a token is stored in "+path) || !strings.Contains(stdout, "markread renews it") {
		t.Errorf("an expired, renewable token: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	noSecrets(t, []string{stdout, stderr}, access, refresh)

	writeTokenFileAt(t, path, &oauth2.Token{AccessToken: access, Expiry: time.Now().Add(-time.Hour)})
	if code, stdout, _ = runMarkread(t, nil, "token", "--token-file", path); code != exitAuth || !strings.Contains(stdout, "run markread login") {
		t.Errorf("an expired token without a refresh token: exit %d, stdout %q; want 3 saying to log in", code, stdout)
	}

	if code, stdout, stderr = runMarkread(t, nil, "logout", "--token-file", path); code != exitOK || !strings.Contains(stdout, "logged out: deleted "+path) {
		t.Errorf("logout: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the token file is still there: %v", err)
	}
	if code, stdout, _ = runMarkread(t, nil, "logout", "--token-file", path); code != exitOK || !strings.Contains(stdout, "no token was stored") {
		t.Errorf("logout again: exit %d, stdout %q", code, stdout)
	}

	if err := os.WriteFile(path, []byte("{corrupt"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr = runMarkread(t, nil, "token", "--token-file", path); code != exitUsage || !strings.Contains(stderr, path) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("a corrupt file: exit %d, stderr %q; want 2 and one line naming it", code, stderr)
	}
	for _, args := range [][]string{{"token", "extra"}, {"logout", "--token-file"}, {"token", "--json"}} {
		if code, _, stderr = runMarkread(t, nil, args...); code != exitUsage || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%q: exit %d, stderr %q; want 2 and one line", args, code, stderr)
		}
	}
}

func writeTokenFileAt(t *testing.T, path string, tok *oauth2.Token) {
	t.Helper()
	store, err := openTokenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Save(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
}

// Logging out with nothing stored leaves no trace: Delete would take the lock, and so make the
// directory and a lock file.
func TestLogoutWithNothingStoredWritesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "markread")
	code, stdout, _ := runMarkread(t, nil, "logout", "--token-file", filepath.Join(dir, "token.json"))
	if code != exitOK || !strings.Contains(stdout, "no token was stored") {
		t.Errorf("exit %d, stdout %q; want 0 saying no token was stored", code, stdout)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("logout made %s (%v)", dir, err)
	}
}

func TestRoughly(t *testing.T) {
	for d, want := range map[time.Duration]string{42 * time.Second: "42s", 5 * time.Minute: "5m", 2 * time.Hour: "2h",
		119*time.Minute + 40*time.Second: "2h", time.Hour + 59*time.Minute: "1h59m"} {
		if got := roughly(d); got != want {
			t.Errorf("roughly(%v) = %q, want %q", d, got, want)
		}
	}
}
