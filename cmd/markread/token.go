package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/xchat-go/markread/api"
	"github.com/xchat-go/markread/internal/plural"
	"github.com/xchat-go/markread/internal/textsafe"
)

const tokenUsage = `usage: markread token [--token-file PATH]

Says whether markread login has stored a token, where, when its access token expires, whether it has a
refresh token and which scopes X granted. It never shows the token.

Flags:
  --token-file PATH   the token file (default: markread/token.json in your config directory)

Exit codes: 0 a token is stored and usable (markread renews an expired access token with the refresh
token); 2 the file cannot be used; 3 no token is stored, or it has expired with no refresh token: run
markread login.
`

const logoutUsage = `usage: markread logout [--token-file PATH]

Deletes the token markread login stored. X still lists the app as connected to your account until you
revoke it in X's settings (Security and account access, Apps and sessions, Connected apps).

Flags:
  --token-file PATH   the token file (default: markread/token.json in your config directory)
`

func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	store, code, done := tokenCommand("token", tokenUsage, args, stdout, stderr)
	if done {
		return code
	}
	tok, err := store.Load(ctx)
	if err != nil {
		fmt.Fprintln(stderr, err) // the api package's error, naming the file, prefix included
		if errors.Is(err, api.ErrLoginRequired) {
			return exitAuth
		}
		return exitUsage
	}
	fmt.Fprintf(stdout, "a token is stored in %s\n", textsafe.OneLine(store.Path()))
	fmt.Fprint(stdout, describeToken(tok, time.Now()))
	if expired(tok, time.Now()) && tok.RefreshToken == "" {
		return exitAuth
	}
	return exitOK
}

func runLogout(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	store, code, done := tokenCommand("logout", logoutUsage, args, stdout, stderr)
	if done {
		return code
	}
	if _, err := os.Lstat(store.Path()); errors.Is(err, fs.ErrNotExist) {
		// Nothing to delete: Delete would take the lock, and so make a directory and a lock file.
		fmt.Fprintf(stdout, "no token was stored in %s\n", textsafe.OneLine(store.Path()))
		return exitOK
	}
	// ctx, so that Ctrl-C ends the wait for a renewal another markread is making.
	if err := store.Delete(ctx); err != nil {
		fmt.Fprintln(stderr, err) // the api package's error, naming the file, prefix included
		return exitFailure
	}
	fmt.Fprintf(stdout, "logged out: deleted %s\n", textsafe.OneLine(store.Path()))
	fmt.Fprintln(stdout, "  X lists the app as connected to your account until you revoke it in X's settings (Connected apps)")
	return exitOK
}

// tokenCommand parses the flags of markread token and markread logout, the same two, and opens the store.
// done says the command is over, with code.
func tokenCommand(name, usage string, args []string, stdout, stderr io.Writer) (store *api.FileTokenStore, code int, done bool) {
	fs := flag.NewFlagSet("markread "+name, flag.ContinueOnError)
	tokenFile := fs.String("token-file", "", "")
	if code, done := parseSubcommand(fs, args, usage, stdout, stderr); done {
		return nil, code, true
	}
	store, err := openTokenStore(*tokenFile)
	if err != nil {
		return nil, asFailure(err).print(stderr), true
	}
	return store, exitOK, false
}

// openTokenStore opens the token file at path, or at the default place when path is empty.
func openTokenStore(path string) (*api.FileTokenStore, error) {
	if path == "" {
		var err error
		if path, err = defaultTokenFile(); err != nil {
			return nil, failf(exitUsage, "%s", err)
		}
	}
	store, err := api.NewFileTokenStore(path)
	if err != nil {
		return nil, &failure{code: exitUsage, msg: err.Error(), fromAPI: true}
	}
	return store, nil
}

// saveToken saves tok under the store's lock, so that it does not interleave with a refresh another
// markread makes of the token it replaces.
func saveToken(ctx context.Context, store *api.FileTokenStore, tok *oauth2.Token) error {
	// A refresh takes a second or two; a lock held for a minute belongs to a stuck (or suspended) markread.
	lockCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	unlock, err := store.Lock(lockCtx)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return failf(exitFailure, "login: another markread has held the lock of %s for over a minute; if it is stuck "+
			"(or suspended with Ctrl-Z), stop it and log in again: the new token was not saved", textsafe.OneLine(store.Path()))
	}
	if err != nil {
		return &failure{code: exitFailure, msg: err.Error(), fromAPI: true}
	}
	err = store.Save(ctx, tok)
	if unlockErr := unlock(); err == nil {
		err = unlockErr
	}
	if err != nil {
		return &failure{code: exitFailure, msg: err.Error(), fromAPI: true}
	}
	return nil
}

// describeToken says what a person needs to know of a stored token, one indented line each, without
// showing it.
func describeToken(tok *oauth2.Token, now time.Time) string {
	var b strings.Builder
	switch {
	case tok.Expiry.IsZero():
		b.WriteString("  access token: no expiry recorded\n")
	case expired(tok, now):
		fmt.Fprintf(&b, "  access token: expired at %s", tok.Expiry.UTC().Format(time.RFC3339))
		if tok.RefreshToken != "" {
			b.WriteString("; markread renews it when next used\n")
		} else {
			b.WriteString("; with no refresh token, run markread login\n")
		}
	default:
		fmt.Fprintf(&b, "  access token: expires at %s (in %s)\n", tok.Expiry.UTC().Format(time.RFC3339), roughly(tok.Expiry.Sub(now)))
	}
	if tok.RefreshToken != "" {
		b.WriteString("  refresh token: yes, so markread renews the access token by itself\n")
	} else {
		b.WriteString("  refresh token: none (offline.access was not granted): log in again when the access token expires\n")
	}
	scope, _ := tok.Extra("scope").(string)
	granted, withheld := scopeNames(scope, tok.AccessToken, tok.RefreshToken)
	switch {
	case len(granted) == 0 && withheld == 0:
		b.WriteString("  scopes: not recorded\n")
		return b.String()
	case len(granted) > maxShownScopes:
		fmt.Fprintf(&b, "  scopes: %s (and %d more)", strings.Join(granted[:maxShownScopes], " "), len(granted)-maxShownScopes)
	default:
		fmt.Fprintf(&b, "  scopes: %s", strings.Join(granted, " "))
	}
	if withheld > 0 {
		if len(granted) > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "(%s withheld: not scope names)", plural.Count(withheld, "word"))
	}
	var missing []string
	for _, s := range requiredScopes {
		if !slices.Contains(granted, s) {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(&b, " (without %s, X refuses to mark conversations read: run markread login again)", strings.Join(missing, ", "))
	}
	b.WriteString("\n")
	return b.String()
}

const (
	// maxShownScopes bounds the scopes describeToken lists: X has about twenty.
	maxShownScopes = 32
	// maxScopeName bounds a scope name: X's longest, tweet.moderate.write, has 20 bytes.
	maxScopeName = 40
)

// scopeName is the shape of X's scope names (users.read, offline.access): with at most maxScopeName
// bytes, the only words of a token's scope markread shows. The scope is the token endpoint's text, and
// one that echoes its request puts the code, the PKCE verifier or the client secret there.
var scopeName = regexp.MustCompile(`^[a-z]+(\.[a-z]+)*$`)

// scopeNames splits scope into the words that look like scope names and are none of secrets, and the
// number of the others.
func scopeNames(scope string, secrets ...string) (names []string, withheld int) {
	for _, word := range strings.Fields(scope) {
		if len(word) > maxScopeName || !scopeName.MatchString(word) || scrub(word, secrets...) != word {
			withheld++
			continue
		}
		names = append(names, word)
	}
	return names, withheld
}

func expired(tok *oauth2.Token, now time.Time) bool {
	return !tok.Expiry.IsZero() && !now.Before(tok.Expiry)
}

// roughly rounds d for a person: to the minute beyond one, else to the second.
func roughly(d time.Duration) time.Duration {
	if d >= time.Minute {
		return d.Round(time.Minute)
	}
	return d.Round(time.Second)
}
