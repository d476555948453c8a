package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"golang.org/x/oauth2"

	"github.com/xchat-go/markread/api"
)

// loginScopes are what markread login asks for: api.Scopes, and offline.access for a refresh token.
var loginScopes = append(slices.Clip(api.Scopes), "offline.access")

// oauthConfig is the user's X app from the environment (never flags: shell history, ps): X_CLIENT_ID,
// X_CLIENT_SECRET for a confidential client, api.EndpointFromEnv's URLs. why says what needs the app.
func oauthConfig(env func(string) string, why string) (*oauth2.Config, error) {
	clientID := strings.TrimSpace(env("X_CLIENT_ID"))
	if clientID == "" {
		return nil, usageErrorf("X_CLIENT_ID is not set: %s needs your X app's OAuth 2.0 client ID "+
			"(developer portal, your app's \"Keys and tokens\"), and X_CLIENT_SECRET too for a confidential client", why)
	}
	endpoint, err := api.EndpointFromEnv(env)
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	// X answers unauthorized_client to a confidential client's secret in the form: HTTP Basic it is.
	conf := &oauth2.Config{ClientID: clientID, ClientSecret: strings.TrimSpace(env("X_CLIENT_SECRET")), Endpoint: endpoint, Scopes: loginScopes}
	conf.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	if conf.ClientSecret != "" {
		conf.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	}
	return conf, nil
}

// tokenFilePath is --token-file, or the default token file when it is empty.
func tokenFilePath(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	path, err := api.DefaultTokenFile()
	if err != nil {
		return "", usageErrorf("%v; pass --token-file PATH", err)
	}
	return path, nil
}

// oauth1Vars are OAuth 1.0a's four credentials, taken from the environment only.
var oauth1Vars = []string{"X_OAUTH1_CONSUMER_KEY", "X_OAUTH1_CONSUMER_SECRET", "X_OAUTH1_ACCESS_TOKEN", "X_OAUTH1_ACCESS_TOKEN_SECRET"}

// authKind is how the mark command authenticates, for the hint after X refuses.
type authKind int

const (
	bearerToken authKind = iota // X_ACCESS_TOKEN
	storedToken                 // a token file markread login wrote, renewed as it expires
	oauth1User                  // the X_OAUTH1_* variables
)

// markCredentials finds the mark command's credentials: the X_OAUTH1_* variables, X_ACCESS_TOKEN,
// --token-file, or else the token markread login stored; one kind only, so that markread never quietly
// uses another account than the one meant. ctx is the one every renewal of a stored token runs under.
func markCredentials(ctx context.Context, tokenFile string, env func(string) string) (api.Option, authKind, error) {
	var given []string
	oauth1, oauth1Err := oauth1FromEnv(env)
	if oauth1 != nil || oauth1Err != nil {
		given = append(given, "X_OAUTH1_*")
	}
	accessToken := strings.TrimSpace(env("X_ACCESS_TOKEN"))
	if accessToken != "" {
		given = append(given, "X_ACCESS_TOKEN")
	}
	if tokenFile != "" {
		given = append(given, "--token-file")
	}
	switch {
	case len(given) > 1:
		return nil, 0, usageErrorf("credentials from %s: give one kind only", strings.Join(given, " and "))
	case oauth1Err != nil:
		return nil, 0, oauth1Err
	case oauth1 != nil:
		return api.WithOAuth1(oauth1[0], oauth1[1], oauth1[2], oauth1[3]), oauth1User, nil
	case accessToken != "":
		return api.WithToken(accessToken), bearerToken, nil
	}
	path, err := tokenFilePath(tokenFile)
	if err != nil {
		return nil, 0, err
	}
	if _, statErr := os.Stat(path); tokenFile == "" && errors.Is(statErr, fs.ErrNotExist) {
		return nil, 0, &exitError{code: exitUsage, hints: noTokenHints,
			err: fmt.Errorf("no credentials (no token is stored in %s): run markread login, set X_ACCESS_TOKEN, or pass --token-file PATH", path)}
	}
	conf, err := oauthConfig(env, "renewing the token in "+path)
	if err != nil {
		return nil, 0, err
	}
	src, err := api.NewFileTokenSource(ctx, conf, path)
	if err != nil {
		return nil, 0, tokenFileError(err)
	}
	return api.WithTokenSource(src), storedToken, nil
}

// tokenFileError is a token file that cannot be used: exit 3 when a login helps, else 2.
func tokenFileError(err error) error {
	if errors.Is(err, api.ErrLoginRequired) {
		return err
	}
	return &exitError{code: exitUsage, err: err}
}

// oauth1FromEnv reads OAuth 1.0a's four credentials, in oauth1Vars' order: nil when none is set, an
// error naming the missing ones when only some are.
func oauth1FromEnv(env func(string) string) ([]string, error) {
	var values, missing []string
	for _, name := range oauth1Vars {
		value := strings.TrimSpace(env(name))
		values = append(values, value)
		if value == "" {
			missing = append(missing, name)
		}
	}
	switch len(missing) {
	case 0:
		return values, nil
	case len(oauth1Vars):
		return nil, nil
	}
	return nil, usageErrorf("OAuth 1.0a needs all four of %s; %s not set", strings.Join(oauth1Vars, ", "), strings.Join(missing, ", "))
}
