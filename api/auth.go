package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"

	"golang.org/x/oauth2"

	"github.com/xchat-go/markread/gen"
	"github.com/xchat-go/markread/internal/textsafe"
)

// ErrNoToken is the errors.Is target when the token source fails or hands back no usable access token.
var ErrNoToken = errors.New("no OAuth 2.0 access token")

// ErrLoginRequired is the errors.Is target when stored credentials cannot be renewed without the user:
// no token is stored, or X refused the refresh token (invalid_grant). Retrying does not help; logging in
// again (markread login) does. It comes wrapped in ErrNoToken when a Client's token source returns it.
var ErrLoginRequired = errors.New("login required: run markread login")

// authorizer sets a request's credentials and returns the secrets the request now carries, so that
// anything a server sends back can be scrubbed of them. The Client keeps it as a function value on
// purpose: fmt prints a func as an address whatever the verb, so no %v, %s or %x of a Client (or of a
// struct holding one, even in an unexported field) can reach the credentials it closes over.
type authorizer func(req *http.Request) (secrets []string, err error)

// recentTokens is how many of a source's latest tokens every answer is scrubbed of: an answer may echo
// the token of an earlier attempt, from before a refresh.
const recentTokens = 4

// bearer authorizes with OAuth 2.0 user access tokens from ts, asked on every request so that a
// refreshing source keeps working. It names as secrets the token it sends and the few before it.
func bearer(ts oauth2.TokenSource) authorizer {
	var mu sync.Mutex
	var recent []string // newest first; replaced, never changed in place, so callers may keep reading it
	return func(req *http.Request) ([]string, error) {
		tok, err := ts.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrNoToken, &tokenSourceError{err})
		}
		if tok == nil || tok.AccessToken == "" {
			return nil, fmt.Errorf("%w: the token source returned an empty access token", ErrNoToken)
		}
		if !isBearerToken(tok.AccessToken) {
			return nil, fmt.Errorf("%w: %s", ErrNoToken, badTokenText)
		}
		// Always "Bearer": X's user tokens are bearer tokens, and a token type taken from the source
		// (which may hold anything) must not decide what is sent or what is scrubbed.
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		mu.Lock()
		defer mu.Unlock()
		if len(recent) == 0 || recent[0] != tok.AccessToken {
			recent = append([]string{tok.AccessToken}, recent[:min(len(recent), recentTokens-1)]...)
		}
		return recent, nil
	}
}

// tokenSourceError is a token source's failure. Its text is one line and shows no more of an OAuth
// token endpoint's refusal than its status and error code: the endpoint's answer, which
// oauth2.RetrieveError quotes whole, may echo the refresh token or the client secret it was sent. Any
// other failure's text is withheld too (see sourceFailureText). The cause stays reachable with
// errors.As, for a caller that must tell invalid_grant from a hiccup.
type tokenSourceError struct{ cause error }

func (e *tokenSourceError) Error() string {
	// A store's token source (NewStoreTokenSource) already says it safely, with the package's prefix,
	// which is dropped here so that the Client's error has it once. A type assertion, not errors.As: a
	// caller's source that wraps such an error keeps its own words.
	if own, ok := e.cause.(*storeError); ok {
		return textsafe.OneLine(own.err.Error())
	}
	var retrieve *oauth2.RetrieveError
	if !errors.As(e.cause, &retrieve) {
		return "token source: " + sourceFailureText(e.cause)
	}
	return refusalText(retrieve, nil)
}

// sourceFailureText describes a token source's failure by its kind alone, never by its text, which
// the package cannot make safe: x/oauth2 quotes whole an answer it cannot parse, and a request's URL as
// a redirect left it, either of which a hostile endpoint fills with the refresh token it was sent; and
// a caller's own source may say anything. Of a request's URL only the origin is named.
func sourceFailureText(err error) string {
	text := "it failed"
	if urlErr := (*url.Error)(nil); errors.As(err, &urlErr) {
		origin := "the token endpoint"
		if u, parseErr := url.Parse(urlErr.URL); parseErr == nil && u.Host != "" {
			origin = originOf(u)
		}
		text = "its request to " + origin + " failed"
	}
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		text += " (timed out)"
	case errors.Is(err, context.Canceled):
		text += " (canceled)"
	}
	return textsafe.OneLine(text) + "; its error is withheld, as it may quote what the token endpoint answered"
}

// refusalText describes a token endpoint's refusal by its status and error code alone. The code is shown
// only when it has the shape of one (lower-case letters and _, as RFC 6749's registered codes do), and
// then scrubbed of secrets: an endpoint that echoes its request sends something else there, such as the
// HTTP Basic credential, which no scrubbing of the plain secret finds.
func refusalText(retrieve *oauth2.RetrieveError, secrets scrubber) string {
	text := "the token endpoint refused to issue a token"
	if retrieve.Response != nil {
		text += " (HTTP " + strconv.Itoa(retrieve.Response.StatusCode) + ")"
	}
	switch code := retrieve.ErrorCode; {
	case code == "":
	case textsafe.IsOAuthErrorCode(code):
		text += ": " + secrets.text(code)
	default:
		text += " with an error code that is not one (withheld)"
	}
	return text
}

func (e *tokenSourceError) Unwrap() error { return e.cause }

// Format prints the error's text whatever the verb: a %d would otherwise make fmt walk to the cause.
func (e *tokenSourceError) Format(f fmt.State, verb rune) { formatText(f, verb, e.Error()) }

// badTokenText says why a token is refused without showing it.
const badTokenText = "the access token has characters a bearer token cannot have (RFC 6750 allows " +
	"letters, digits and -._~+/, then = padding); check that it was copied whole, without quotes or a newline"

// isBearerToken reports whether token has RFC 6750's b64token syntax: 1*( ALPHA / DIGIT / "-" / "." /
// "_" / "~" / "+" / "/" ) *"=". Refusing anything else is what keeps the scrubbing of echoed tokens
// simple: such a token reads the same in every escaped form net/http, strconv and encoding/json produce.
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

// AuthEditor returns a request editor that asks ts for a token on every request and sets the
// Authorization header from it, so that a refreshing source keeps working. Use it with the generated client
// directly: gen.NewClient(server, gen.WithRequestEditorFn(api.AuthEditor(ts))).
//
// A token-source failure, or a token that is not an RFC 6750 bearer token, is returned wrapped with
// ErrNoToken, and the request is not sent. The failure's text shows a token endpoint's refusal by its
// status and error code only, and of any other failure its kind, not its text, which may quote what the
// endpoint answered; errors.As reaches the source's own error.
func AuthEditor(ts oauth2.TokenSource) gen.RequestEditorFn {
	if ts == nil {
		return func(context.Context, *http.Request) error {
			return prefixed(fmt.Errorf("%w: nil token source", ErrNoToken))
		}
	}
	authorize := bearer(ts)
	return func(_ context.Context, req *http.Request) error {
		_, err := authorize(req)
		return prefixed(err)
	}
}
