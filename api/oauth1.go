package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/dghubble/oauth1"
)

// WithOAuth1 authenticates with OAuth 1.0a user context: an app's consumer key and secret and a user's
// access token and secret, which X accepts on this endpoint and which do not expire. Every request,
// retries included, is signed afresh (HMAC-SHA1, RFC 5849, with a new nonce and timestamp) by
// github.com/dghubble/oauth1, which keeps the JSON body out of the signature as RFC 5849 §3.4.1.3.1 and
// X require.
//
// The four values are scrubbed from everything a server sends back, as an access token is. They must
// have the characters X's keys and tokens have (letters, digits and -._~+/, then = padding): anything else
// is refused, without showing the value, as WithToken refuses a token that was not copied whole.
func WithOAuth1(consumerKey, consumerSecret, accessToken, accessTokenSecret string) Option {
	return func(c *Client) error {
		for _, credential := range []struct{ name, value string }{
			{"consumer key", consumerKey},
			{"consumer secret", consumerSecret},
			{"access token", accessToken},
			{"access token secret", accessTokenSecret},
		} {
			if credential.value == "" {
				return fmt.Errorf("WithOAuth1: empty %s", credential.name)
			}
			if !isBearerToken(credential.value) {
				return fmt.Errorf("WithOAuth1: the %s has characters X's keys and tokens do not have "+
					"(letters, digits and -._~+/, then = padding); check that it was copied whole, "+
					"without quotes or a newline", credential.name)
			}
		}
		c.authorize = oauth1Signer(oauth1.NewConfig(consumerKey, consumerSecret), oauth1.NewToken(accessToken, accessTokenSecret))
		return nil
	}
}

// oauth1Signer authorizes by signing each request with config and token. It names all four credentials
// as secrets, although only the consumer key and the access token go on the wire: a server may echo any
// of them, and the caller was promised that none of them ever comes out.
func oauth1Signer(config *oauth1.Config, token *oauth1.Token) authorizer {
	secrets := []string{token.Token, token.TokenSecret, config.ConsumerKey, config.ConsumerSecret}
	return func(req *http.Request) ([]string, error) {
		// dghubble/oauth1 signs only inside its RoundTripper, so the request goes through one whose base
		// transport keeps the signed header instead of sending anything.
		var kept signedHeader
		signing := config.Client(context.WithValue(req.Context(), oauth1.HTTPClient, &http.Client{Transport: &kept}), token)
		resp, err := signing.Transport.RoundTrip(req)
		if err != nil {
			// Signing reads no more than the request's URL, and its body for a form: the cause is about
			// the request, never the credentials.
			return nil, fmt.Errorf("signing the request with OAuth 1.0a: %w", err)
		}
		_ = resp.Body.Close()
		if kept.authorization == "" {
			return nil, errors.New("signing the request with OAuth 1.0a gave no Authorization header")
		}
		req.Header.Set("Authorization", kept.authorization)
		return secrets, nil
	}
}

// signedHeader is the base transport of oauth1Signer: it keeps the Authorization header of the signed
// request and answers without sending it.
type signedHeader struct{ authorization string }

func (s *signedHeader) RoundTrip(req *http.Request) (*http.Response, error) {
	s.authorization = req.Header.Get("Authorization")
	return &http.Response{StatusCode: http.StatusNoContent, Body: http.NoBody, Header: http.Header{}, Request: req}, nil
}
