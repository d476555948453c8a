package api

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/oauth2"

	"github.com/xchat-go/markread/api/apitest"
)

// apitest cannot import this package (this package's tests import apitest), so its default grant is
// checked against Scopes here.
func TestApitestGrantsScopesAndOfflineAccessByDefault(t *testing.T) {
	tok, err := apitest.NewHandler(apitest.WithOAuthClient(testClientID, "", testRedirectURI)).IssueToken(testClientID)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Join(append(slices.Clip(Scopes), "offline.access"), " "); tok.Extra("scope") != want {
		t.Errorf("apitest grants %q by default, want %q", tok.Extra("scope"), want)
	}
}

func TestEndpointFromEnv(t *testing.T) {
	for _, c := range []struct {
		auth, token string
		want        oauth2.Endpoint
		err         string
	}{
		{"", "", Endpoint, ""},
		{"http://127.0.0.1:9/a", " https://t.example/token ", oauth2.Endpoint{AuthURL: "http://127.0.0.1:9/a", TokenURL: "https://t.example/token"}, ""},
		{"", "http://t.example/token", oauth2.Endpoint{}, "MARKREAD_TOKEN_URL must use https"},
		{"https://u:secret-in-url@a.example/", "", oauth2.Endpoint{}, "MARKREAD_AUTH_URL must carry no user info"},
		{"", "https://t.example/token#frag", oauth2.Endpoint{}, "no fragment"},
		{"", "/2/oauth2/token", oauth2.Endpoint{}, "MARKREAD_TOKEN_URL is not an absolute URL"},
	} {
		env := map[string]string{"MARKREAD_AUTH_URL": c.auth, "MARKREAD_TOKEN_URL": c.token}
		got, err := EndpointFromEnv(func(k string) string { return env[k] })
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || strings.Contains(err.Error(), "secret-in-url") {
				t.Errorf("%v: err = %v, want %q without the value", env, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%v: got %+v, %v; want %+v", env, got, err, c.want)
		}
	}
}

func TestDefaultTokenFileIsInTheUserConfigDirectory(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	t.Setenv("HOME", dir)
	t.Setenv("AppData", dir)
	got, err := DefaultTokenFile()
	if err != nil || !strings.HasPrefix(got, dir) || !strings.HasSuffix(got, filepath.Join("markread", "token.json")) {
		t.Errorf("DefaultTokenFile() = %q, %v; want markread/token.json under %s", got, err, dir)
	}
}

// A token that lives 5 seconds (markread serve --token-lifetime 5s) is renewed a quarter of its lifetime
// before it expires, not on every call: 900 calls over 90 seconds make about 90 / 3.75 = 24 renewals.
// With the fixed minute margin, each of the 900 renewed.
func TestStoreTokenSourceRenewsAShortLivedTokenByItsLifetime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newTokenFixture(t, apitest.WithAccessTokenLifetime(5*time.Second))
		ts := f.source(t)
		for range 900 {
			tok := mustToken(t, ts)
			saved, err := f.store.Load(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if saved.AccessToken != tok.AccessToken || !time.Now().Before(saved.Expiry.Add(-time.Second)) {
				t.Fatal("handed out a token that is not the stored one, or that expires within a second")
			}
			time.Sleep(100 * time.Millisecond)
		}
		if n := f.fake.RefreshRequests(); n < 20 || n > 25 {
			t.Errorf("%d renewals for 900 calls over 90 s of a 5 s token, want about 24", n)
		}
	})
}

// Replace, as a login saves, waits for a renewal under way in another process instead of interleaving.
func TestFileTokenStoreReplaceWaitsForTheLock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "token.json")
		store, other := newTestStore(t, path), newTestStore(t, path)
		unlock, err := other.Lock(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- store.Replace(context.Background(), storedToken(time.Time{})) }()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("Replace returned (%v) while another held the lock", err)
		default:
		}
		if err := unlock(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if tok, err := store.Load(context.Background()); err != nil || tok.AccessToken != storedAccess {
			t.Errorf("after Replace: %v", err)
		}
		// And gives up after a minute when the lock stays held.
		unlock, err = other.Lock(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = unlock() }()
		err = store.Replace(context.Background(), storedToken(time.Time{}))
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "held the lock for over 1m0s") {
			t.Errorf("err = %v, want the wait bounded at a minute", err)
		}
	})
}
