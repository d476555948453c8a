package api

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/oauth2"

	"github.com/xchat-go/markread/internal/loopback"
)

// Scopes are the OAuth 2.0 scopes the endpoint needs (spec/openapi.yaml); add "offline.access" for a
// refresh token.
var Scopes = []string{"users.read", "dm.write", "tweet.read"}

// Endpoint is X's OAuth 2.0 authorization server.
var Endpoint = oauth2.Endpoint{AuthURL: "https://x.com/i/oauth2/authorize", TokenURL: "https://api.x.com/2/oauth2/token"}

// EndpointFromEnv is Endpoint with the URLs in MARKREAD_AUTH_URL and MARKREAD_TOKEN_URL, when set
// (`markread serve`'s, say); they must be https, or http on a loopback host.
func EndpointFromEnv(getenv func(string) string) (oauth2.Endpoint, error) {
	e := Endpoint
	for name, value := range map[string]*string{"MARKREAD_AUTH_URL": &e.AuthURL, "MARKREAD_TOKEN_URL": &e.TokenURL} {
		raw := strings.TrimSpace(getenv(name))
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		switch {
		case err != nil || u.Host == "" || u.Opaque != "":
			return oauth2.Endpoint{}, fmt.Errorf("%s is not an absolute URL; want e.g. %s", name, *value)
		case u.User != nil || u.Fragment != "" || strings.Contains(raw, "#"):
			return oauth2.Endpoint{}, fmt.Errorf("%s must carry no user info and no fragment", name)
		case u.Scheme != "https" && !(u.Scheme == "http" && loopback.Host(u.Hostname())):
			return oauth2.Endpoint{}, fmt.Errorf("%s must use https (http only on a loopback host: 127.0.0.0/8, ::1, localhost)", name)
		}
		*value = raw
	}
	return e, nil
}

// DefaultTokenFile is where `markread login` keeps the token: markread/token.json in os.UserConfigDir.
func DefaultTokenFile() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no user config directory to keep the token in: %w", err)
	}
	return filepath.Join(dir, "markread", "token.json"), nil
}
