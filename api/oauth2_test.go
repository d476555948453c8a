package api

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

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
