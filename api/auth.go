package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"golang.org/x/oauth2"

	"github.com/xchat-go/markread/gen"
)

// ErrNoToken matches a call that sent nothing because the token source failed; it wraps the cause.
var ErrNoToken = errors.New("no OAuth 2.0 access token")

// ErrLoginRequired matches stored credentials only the user can renew: run markread login.
var ErrLoginRequired = errors.New("login required: run markread login")

// authorizer sets a request's credentials and returns the secrets the request now carries, which are
// replaced in whatever its answer brings back. Credentials live only inside such func values (and the
// token sources they close over): fmt prints a func as an address whatever the verb, so no formatting
// of a Client, or of a struct holding one, reaches them.
type authorizer func(req *http.Request) (secrets []string, err error)

// bearer authorizes with OAuth 2.0 user access tokens from ts, asked on every request so that a
// refreshing source keeps working.
func bearer(ts oauth2.TokenSource) authorizer {
	// The latest token's header and secrets, kept so that a call with the same token allocates nothing
	// for them. Neither slice is changed once made: requests and callers may hold on to them.
	var mu sync.Mutex
	var secrets, header []string
	return func(req *http.Request) ([]string, error) {
		tok, err := ts.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrNoToken, err)
		}
		if tok == nil || tok.AccessToken == "" {
			return nil, fmt.Errorf("%w: the token source returned an empty access token", ErrNoToken)
		}
		if !isBearerToken(tok.AccessToken) {
			return nil, fmt.Errorf("%w: %s", ErrNoToken, badTokenText)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(secrets) == 0 || secrets[0] != tok.AccessToken {
			// Always "Bearer": X's user tokens are bearer tokens, whatever the source's TokenType says.
			secrets, header = []string{tok.AccessToken}, []string{"Bearer " + tok.AccessToken}
		}
		req.Header["Authorization"] = header
		return secrets, nil
	}
}

// badTokenText says why a token is refused without showing it.
const badTokenText = "the access token has characters a bearer token cannot have (RFC 6750 allows " +
	"letters, digits and -._~+/, then = padding); check that it was copied whole, without quotes or a newline"

// isBearerToken reports whether token has RFC 6750's b64token syntax: 1*( ALPHA / DIGIT / "-" / "." /
// "_" / "~" / "+" / "/" ) *"=".
func isBearerToken(token string) bool {
	i := 0
	for ; i < len(token); i++ {
		c := token[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/') {
			break
		}
	}
	if i == 0 {
		return false
	}
	for ; i < len(token); i++ {
		if token[i] != '=' {
			return false
		}
	}
	return true
}

// AuthEditor gives the generated client (package gen) the Authorization header from ts on every request;
// a token source's failure is returned wrapped with ErrNoToken, and nothing is sent.
func AuthEditor(ts oauth2.TokenSource) gen.RequestEditorFn {
	if ts == nil {
		return func(context.Context, *http.Request) error {
			return fmt.Errorf("%w: nil token source", ErrNoToken)
		}
	}
	authorize := bearer(ts)
	return func(_ context.Context, req *http.Request) error {
		_, err := authorize(req)
		return err
	}
}
