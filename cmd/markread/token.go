package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/xchat-go/markread/api"
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

func runToken(ctx context.Context, args []string, stdout io.Writer) error {
	store, err := tokenCommand("markread token", tokenUsage, args, stdout)
	if store == nil {
		return err
	}
	tok, err := store.Load(ctx)
	if err != nil {
		return tokenFileError(err)
	}
	fmt.Fprintf(stdout, "a token is stored in %s\n", textsafe.OneLine(store.Path()))
	fmt.Fprint(stdout, describeToken(tok, time.Now()))
	if expired(tok, time.Now()) && tok.RefreshToken == "" {
		return failf(exitAuth, "the access token has expired and there is no refresh token: run markread login")
	}
	return nil
}

func runLogout(ctx context.Context, args []string, stdout io.Writer) error {
	store, err := tokenCommand("markread logout", logoutUsage, args, stdout)
	if store == nil {
		return err
	}
	if _, err := os.Lstat(store.Path()); errors.Is(err, fs.ErrNotExist) {
		// Nothing to delete: Delete would take the lock, and so make a directory and a lock file.
		fmt.Fprintf(stdout, "no token was stored in %s\n", textsafe.OneLine(store.Path()))
		return nil
	}
	// ctx, so that Ctrl-C ends the wait for a renewal another markread is making.
	if err := store.Delete(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "logged out: deleted %s\n", textsafe.OneLine(store.Path()))
	fmt.Fprintln(stdout, "  X lists the app as connected to your account until you revoke it in X's settings (Connected apps)")
	return nil
}

// tokenCommand parses the flags of markread token and markread logout, the same two, and opens the
// store; no store means the command is over, with the error returned.
func tokenCommand(name, usage string, args []string, stdout io.Writer) (*api.FileTokenStore, error) {
	fs := newFlags(name)
	tokenFile := fs.String("token-file", "", "")
	if help, err := parseFlags(fs, args, usage, stdout, true); help || err != nil {
		return nil, err
	}
	return openTokenStore(*tokenFile)
}

// openTokenStore opens the token file at path, or at the default place when path is empty.
func openTokenStore(path string) (*api.FileTokenStore, error) {
	path, err := tokenFilePath(path)
	if err != nil {
		return nil, err
	}
	store, err := api.NewFileTokenStore(path)
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	return store, nil
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
	granted := strings.Fields(scope)
	if len(granted) == 0 {
		b.WriteString("  scopes: not recorded\n")
		return b.String()
	}
	fmt.Fprintf(&b, "  scopes: %s", textsafe.OneLine(textsafe.Redact(strings.Join(granted, " "), tok.AccessToken, tok.RefreshToken)))
	var missing []string
	for _, s := range api.Scopes {
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

func expired(tok *oauth2.Token, now time.Time) bool {
	return !tok.Expiry.IsZero() && !now.Before(tok.Expiry)
}

// roughly says d as a person reads it: "1h59m", "45m", "30s".
func roughly(d time.Duration) string {
	if d < time.Minute {
		return d.Round(time.Second).String()
	}
	d = d.Round(time.Minute)
	if d < time.Hour {
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return fmt.Sprintf("%dh%dm", d/time.Hour, d%time.Hour/time.Minute)
}
