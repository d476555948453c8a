package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/oauth2"

	"github.com/xchat-go/markread/internal/loopback"
)

// X's OAuth 2.0 endpoints (X-API-NOTES.md: the definition names api.x.com for the authorize endpoint, X's
// docs and xurl use x.com, which is where users log in). MARKREAD_AUTH_URL and MARKREAD_TOKEN_URL point
// them elsewhere, at `markread serve` for instance.
const (
	defaultAuthURL  = "https://x.com/i/oauth2/authorize"
	defaultTokenURL = "https://api.x.com/2/oauth2/token"
)

// loginScopes are what markread login asks for: the endpoint's scopes, and offline.access for a refresh
// token. spec_oracle_test.go checks them against spec/openapi.yaml.
var loginScopes = []string{"users.read", "dm.write", "tweet.read", "offline.access"}

// oauthConfig is the user's X app as the environment describes it: X_CLIENT_ID (required), X_CLIENT_SECRET
// for a confidential client, MARKREAD_AUTH_URL and MARKREAD_TOKEN_URL. why says what the app is needed for,
// for the error when X_CLIENT_ID is missing.
func oauthConfig(env func(string) string, why string) (*oauth2.Config, error) {
	clientID := strings.TrimSpace(env("X_CLIENT_ID"))
	if clientID == "" {
		return nil, fmt.Errorf("X_CLIENT_ID is not set: %s needs your X app's OAuth 2.0 client ID "+
			"(developer portal, your app's \"Keys and tokens\"), and X_CLIENT_SECRET too for a confidential client", why)
	}
	authURL, err := endpointURL(env, "MARKREAD_AUTH_URL", defaultAuthURL)
	if err != nil {
		return nil, err
	}
	tokenURL, err := endpointURL(env, "MARKREAD_TOKEN_URL", defaultTokenURL)
	if err != nil {
		return nil, err
	}
	conf := &oauth2.Config{
		ClientID: clientID,
		Endpoint: oauth2.Endpoint{AuthURL: authURL, TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInParams},
		Scopes:   loginScopes,
	}
	// A confidential client must authenticate with HTTP Basic: X answers unauthorized_client to a secret
	// in the form. The secret comes from the environment only, never a flag (shell history, ps).
	if secret := strings.TrimSpace(env("X_CLIENT_SECRET")); secret != "" {
		conf.ClientSecret = secret
		conf.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	}
	return conf, nil
}

// endpointURL is the URL in the environment variable name, or def. It must be https, or http on loopback
// (the token endpoint is sent the code, the verifier and a client secret), and carry no user info. The
// errors do not quote the value, which may hold a credential.
func endpointURL(env func(string) string, name, def string) (string, error) {
	raw := strings.TrimSpace(env(name))
	if raw == "" {
		return def, nil
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		return "", fmt.Errorf("%s is not an absolute URL; want e.g. %s", name, def)
	case u.User != nil:
		return "", fmt.Errorf("%s must not carry user info", name)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return "", fmt.Errorf("%s must not carry a fragment", name)
	case u.Scheme == "https":
	case u.Scheme == "http" && loopback.Host(u.Hostname()):
	default:
		return "", fmt.Errorf("%s must use https (http only for a loopback host: 127.0.0.0/8, ::1, localhost)", name)
	}
	return raw, nil
}

// defaultTokenFile is where markread login keeps the token unless --token-file says otherwise, and where
// the mark command looks for it when given no other credentials.
func defaultTokenFile() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", errors.New("no user config directory to keep the token in (" + err.Error() + "); pass --token-file PATH")
	}
	return filepath.Join(dir, "markread", "token.json"), nil
}
