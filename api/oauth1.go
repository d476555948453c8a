package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/dghubble/oauth1"
)

// WithOAuth1 authenticates with OAuth 1.0a user context: an app's consumer key and secret and a user's
// access token and secret, which do not expire. Every attempt is signed afresh (HMAC-SHA1, RFC 5849) by
// github.com/dghubble/oauth1, with the JSON body left out of the signature as X requires. The four values
// must have the characters X's keys have (letters, digits and -._~+/, then = padding). A base URL on the
// other scheme's default port (https on 80) is refused: the library would sign it without that port.
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
		c.oauth1 = true
		return nil
	}
}

// Default ports, which RFC 5849 §3.4.1.2 leaves out of a signature base string URI.
var defaultPorts = map[string]int{"http": 80, "https": 443}

// oauth1BaseURL returns base, as parseBaseURL made it, as the requests must go for dghubble/oauth1 to
// sign them as RFC 5849 §3.4.1.2 and X have it. The library leaves ":80" and ":443" out of the base
// string URI whatever the scheme, and keeps ":80" of an IPv6 literal; the RFC leaves out the scheme's
// default port only. So an explicit port is written as its number and left out when it is the
// scheme's default, which changes no destination; the other scheme's default is refused, as no
// request to it could be signed right.
func oauth1BaseURL(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", errors.New("the base URL does not parse as a URL")
	}
	host := u.Host
	if colon := strings.LastIndexByte(host, ':'); colon > strings.LastIndexByte(host, ']') {
		host = host[:colon]
	}
	port, err := strconv.Atoi(u.Port())
	switch {
	case u.Port() == "" || port == defaultPorts[u.Scheme]:
		u.Host = host
	case err != nil:
		return base, nil // not a port number (no dial can reach it), and not one the library drops
	case (port == 80 || port == 443) && !strings.HasPrefix(host, "["):
		other := "http"
		if port == 443 {
			other = "https"
		}
		return "", fmt.Errorf("the base URL's port %d is %s's default, not %s's: github.com/dghubble/oauth1 leaves it "+
			"out of the OAuth 1.0a signature where X keeps it, so X would refuse every request; use another port",
			port, other, u.Scheme)
	default:
		u.Host = host + ":" + strconv.Itoa(port)
	}
	return u.String(), nil
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
