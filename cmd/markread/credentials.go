package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"golang.org/x/oauth2"

	"github.com/xchat-go/markread/api"
	"github.com/xchat-go/markread/internal/loopback"
)

// X's OAuth 2.0 endpoints (X-API-NOTES.md: the definition names api.x.com for the authorize endpoint, X's
// docs and xurl use x.com, which is where users log in). MARKREAD_AUTH_URL and MARKREAD_TOKEN_URL point
// them elsewhere, at `markread serve` for instance.
const (
	defaultAuthURL  = "https://x.com/i/oauth2/authorize"
	defaultTokenURL = "https://api.x.com/2/oauth2/token"
)

// requiredScopes are the scopes marking a conversation read needs, and loginScopes what markread login
// asks for: those and offline.access, for a refresh token. spec_oracle_test.go checks them against
// spec/openapi.yaml.
var (
	requiredScopes = []string{"users.read", "dm.write", "tweet.read"}
	loginScopes    = append(slices.Clip(requiredScopes), "offline.access")
)

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

// oauth1Vars are OAuth 1.0a's four credentials, taken from the environment only.
var oauth1Vars = []string{"X_OAUTH1_CONSUMER_KEY", "X_OAUTH1_CONSUMER_SECRET", "X_OAUTH1_ACCESS_TOKEN", "X_OAUTH1_ACCESS_TOKEN_SECRET"}

// markAuth is how the mark command authenticates.
type markAuth struct {
	option api.Option
	kind   authKind
	// secrets are the credentials sent so far, for report to scrub from anything it prints.
	secrets func() []string
}

type authKind int

const (
	bearerToken authKind = iota // X_ACCESS_TOKEN or a raw --token-file
	storedToken                 // a token file markread login wrote, renewed as it expires
	oauth1User                  // the X_OAUTH1_* variables
)

// markCredentials finds the mark command's credentials: OAuth 1.0a from the X_OAUTH1_* variables,
// X_ACCESS_TOKEN, --token-file (a raw access token, or a file markread login wrote), or else the token
// markread login stored. Only one kind may be given, so that markread never quietly uses another account
// than the one meant. ctx is the one every refresh of a stored token runs under.
func markCredentials(ctx context.Context, tokenFile string, env func(string) string) (markAuth, error) {
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
	if len(given) > 1 {
		return markAuth{}, failf(exitUsage, "credentials from %s: give one kind only", strings.Join(given, " and "))
	}

	switch {
	case oauth1Err != nil:
		return markAuth{}, oauth1Err
	case oauth1 != nil:
		return markAuth{
			option:  api.WithOAuth1(oauth1[0], oauth1[1], oauth1[2], oauth1[3]),
			kind:    oauth1User,
			secrets: func() []string { return oauth1 },
		}, nil
	case accessToken != "":
		return bearer(accessToken), nil
	case tokenFile != "":
		token, isJSON, err := readTokenFile(tokenFile)
		if err != nil {
			return markAuth{}, failf(exitUsage, "%s", err)
		}
		if !isJSON {
			return bearer(token), nil
		}
		return storedCredentials(ctx, tokenFile, env)
	}

	path, err := defaultTokenFile()
	if err == nil {
		if _, statErr := os.Stat(path); errors.Is(statErr, fs.ErrNotExist) {
			err = fmt.Errorf("no token is stored in %q", path)
		}
	}
	if err != nil {
		return markAuth{}, &failure{code: exitUsage, hints: noTokenHints,
			msg: "no credentials (" + err.Error() + "): run markread login, set X_ACCESS_TOKEN, or pass --token-file PATH"}
	}
	return storedCredentials(ctx, path, env)
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
	return nil, failf(exitUsage, "OAuth 1.0a needs all four of %s; %s not set", strings.Join(oauth1Vars, ", "), strings.Join(missing, ", "))
}

func bearer(token string) markAuth {
	return markAuth{option: api.WithToken(token), kind: bearerToken, secrets: func() []string { return []string{token} }}
}

// storedCredentials uses the token file at path that markread login wrote, renewing the access token
// through the app in the environment as it expires.
func storedCredentials(ctx context.Context, path string, env func(string) string) (markAuth, error) {
	conf, err := oauthConfig(env, fmt.Sprintf("renewing the token in %q", path))
	if err != nil {
		return markAuth{}, failf(exitUsage, "%s", err)
	}
	src, err := api.NewFileTokenSource(ctx, conf, path)
	if err != nil {
		code := exitUsage
		if errors.Is(err, api.ErrLoginRequired) {
			code = exitAuth
		}
		return markAuth{}, &failure{code: code, msg: err.Error(), fromAPI: true}
	}
	recorder := &recordingSource{src: src}
	var appSecrets []string
	if conf.ClientSecret != "" {
		// Besides the api's own guard: its refusals show no more than a status and an error code's shape.
		appSecrets = []string{conf.ClientSecret}
	}
	return markAuth{
		option:  api.WithTokenSource(recorder),
		kind:    storedToken,
		secrets: func() []string { return append(recorder.handedOut(), appSecrets...) },
	}, nil
}

// recordingSource remembers the access tokens its source hands out, for report to scrub.
type recordingSource struct {
	src    oauth2.TokenSource
	mu     sync.Mutex
	tokens []string
}

func (s *recordingSource) Token() (*oauth2.Token, error) {
	tok, err := s.src.Token()
	if err == nil && tok != nil && tok.AccessToken != "" {
		s.mu.Lock()
		if !slices.Contains(s.tokens, tok.AccessToken) {
			s.tokens = append(s.tokens, tok.AccessToken)
		}
		s.mu.Unlock()
	}
	return tok, err
}

func (s *recordingSource) handedOut() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.tokens)
}

// Format shows no token whatever the verb.
func (*recordingSource) Format(f fmt.State, _ rune) { fmt.Fprint(f, "recordingSource") }

// readTokenFile reads --token-file: a raw access token, or (isJSON) a token file markread login wrote,
// which the api package reads itself. Either must be its owner's alone (except on Windows, where modes
// mean little), as the api's file store requires of the second: a token others could read may be
// theirs already. Its errors name the file, never its content.
func readTokenFile(path string) (token string, isJSON bool, err error) {
	// Stat before opening: opening a FIFO (or /dev/stdin on a terminal) waits for a writer, past any
	// --timeout, and a device may never end.
	info, err := os.Stat(path)
	switch {
	case err != nil:
	case !info.Mode().IsRegular():
		return "", false, fmt.Errorf("--token-file %q is not a regular file (%s); want a file holding only the access token, or one markread login wrote",
			path, fileKind(info.Mode()))
	case info.Mode().Perm()&0o077 != 0 && runtime.GOOS != "windows":
		return "", false, fmt.Errorf("--token-file %q can be read or changed by other users (mode %04o): run chmod 600 on it, "+
			"and replace the token if anyone else may have read it", path, info.Mode().Perm())
	}
	var f *os.File
	if err == nil {
		f, err = os.Open(path)
	}
	if err != nil {
		var pathErr *os.PathError
		if errors.As(err, &pathErr) {
			err = pathErr.Err // its text quotes the path raw; %q below does not
		}
		return "", false, fmt.Errorf("--token-file %q: %w", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxTokenFileBytes+1))
	if err != nil {
		return "", false, fmt.Errorf("--token-file %q: %w", path, err)
	}
	if len(data) > maxTokenFileBytes {
		return "", false, fmt.Errorf("--token-file %q: larger than %d bytes; want a file holding only the access token, or one markread login wrote", path, maxTokenFileBytes)
	}
	token = strings.TrimSpace(string(data))
	switch {
	case token == "":
		return "", false, fmt.Errorf("--token-file %q is empty", path)
	case strings.HasPrefix(token, "{"):
		return "", true, nil
	case strings.ContainsAny(token, " \t\r\n"):
		return "", false, fmt.Errorf("--token-file %q holds more than one word; want only the access token, or a file markread login wrote", path)
	}
	return token, false, nil
}

// fileKind names what a file that is not a regular one is, for a person.
func fileKind(mode fs.FileMode) string {
	switch {
	case mode.IsDir():
		return "a directory"
	case mode&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case mode&fs.ModeSocket != 0:
		return "a socket"
	case mode&fs.ModeDevice != 0:
		return "a device"
	}
	return "a special file"
}
