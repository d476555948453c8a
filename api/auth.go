package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"

	"golang.org/x/oauth2"

	"github.com/xchat-go/markread/gen"
)

// ErrNoToken is the errors.Is target when the token source fails or hands back no access token.
var ErrNoToken = errors.New("markread: no OAuth 2.0 access token")

// AuthEditor returns a request editor that asks ts for a token on every request and sets the
// Authorization header from it, so that a refreshing source keeps working. Use it with the generated client
// directly: gen.NewClient(server, gen.WithRequestEditorFn(api.AuthEditor(ts))).
//
// A token-source failure is returned wrapped (with ErrNoToken) and the request is not sent.
func AuthEditor(ts oauth2.TokenSource) gen.RequestEditorFn {
	// The header value of the last token seen: a source hands out the same token for hours, so most
	// requests reuse it instead of building it again. Requests only read it; redirects copy headers.
	var last atomic.Pointer[authHeader]
	return func(_ context.Context, req *http.Request) error {
		if ts == nil {
			return fmt.Errorf("%w: nil token source", ErrNoToken)
		}
		tok, err := ts.Token()
		if err != nil {
			return fmt.Errorf("%w: token source: %w", ErrNoToken, err)
		}
		if tok == nil || tok.AccessToken == "" {
			return fmt.Errorf("%w: the token source returned an empty access token", ErrNoToken)
		}
		if !validTokenChars(tok.AccessToken) {
			// net/http would refuse the header on every attempt; say why, without showing the token.
			return fmt.Errorf("%w: the access token contains white space or control characters", ErrNoToken)
		}
		h := last.Load()
		if h == nil || h.token != tok.AccessToken || h.tokenType != tok.TokenType {
			h = &authHeader{token: tok.AccessToken, tokenType: tok.TokenType, value: []string{tok.Type() + " " + tok.AccessToken}}
			last.Store(h)
		}
		req.Header["Authorization"] = h.value
		return nil
	}
}

// authHeader is an Authorization header value and the token it was built from.
type authHeader struct {
	token, tokenType string
	value            []string
}

// GoString keeps %#v of an authHeader from printing the token.
func (authHeader) GoString() string { return "api.authHeader{[REDACTED]}" }

// validTokenChars reports whether token is made of visible ASCII, as OAuth 2.0 bearer tokens are
// (RFC 6750 allows fewer still). It catches the trailing newline of a token read from a file.
func validTokenChars(token string) bool {
	for i := 0; i < len(token); i++ {
		if token[i] <= ' ' || token[i] >= 0x7f {
			return false
		}
	}
	return true
}

// redirectPolicy wraps a client's redirect policy so that the token never reaches another origin: a
// redirect to a different scheme, host or port arrives without Authorization. The standard library strips
// it only when the host name changes, not the port or scheme.
func redirectPolicy(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		first := via[0].URL
		if req.URL.Scheme != first.Scheme || req.URL.Host != first.Host {
			req.Header.Del("Authorization")
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
}
