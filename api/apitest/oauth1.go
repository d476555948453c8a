package apitest

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The OAuth 1.0a check below is apitest's own implementation of RFC 5849, independent of the
// dghubble/oauth1 library the client signs with, on purpose: the fake must not share logic with the
// client it tests.

// oauth1MaxSkew is how far a request's oauth_timestamp may be from the server's clock.
const oauth1MaxSkew = 5 * time.Minute

// oauth1Credentials is one WithOAuth1 user as given.
type oauth1Credentials struct {
	consumerKey, consumerSecret, token, tokenSecret string
}

// oauth1Token is what the server knows of an OAuth 1.0a access token.
type oauth1Token struct {
	consumerKey string
	secret      string
}

// oauth1Nonce identifies a nonce already used: RFC 5849 §3.3 scopes nonces to the consumer and token.
type oauth1Nonce struct {
	consumerKey, token, nonce string
}

// WithOAuth1 adds a user whose requests are signed with OAuth 1.0a (HMAC-SHA1, RFC 5849) instead of
// carrying a bearer token, as X accepts on this endpoint. The user is named as its access token, which
// never expires. A request authenticates when its Authorization header names a known consumer key and
// its access token, uses HMAC-SHA1 (and oauth_version 1.0, if any), has a timestamp within 5 minutes of
// the server's clock and a nonce never used before with that token, and is signed correctly over its
// method, URL, query and form body (a JSON body is not part of the signature); anything else gets X's
// 401. Calls add up; a consumer key may serve several access tokens.
func WithOAuth1(consumerKey, consumerSecret, accessToken, accessTokenSecret string) Option {
	return func(c *config) {
		if consumerKey == "" || consumerSecret == "" || accessToken == "" || accessTokenSecret == "" {
			c.misuse = append(c.misuse, "WithOAuth1: the consumer key and secret and the access token and its secret must all be given")
			return
		}
		for _, other := range c.oauth1 {
			switch {
			case other.token == accessToken:
				c.misuse = append(c.misuse, "WithOAuth1: an access token is registered twice")
				return
			case other.consumerKey == consumerKey && other.consumerSecret != consumerSecret:
				c.misuse = append(c.misuse, fmt.Sprintf("WithOAuth1: consumer key %q is registered with two secrets", consumerKey))
				return
			}
		}
		c.oauth1 = append(c.oauth1, oauth1Credentials{consumerKey, consumerSecret, accessToken, accessTokenSecret})
	}
}

// oauth1Users indexes the WithOAuth1 users by consumer key and access token.
func oauth1Users(creds []oauth1Credentials) (consumers map[string]string, tokens map[string]oauth1Token) {
	consumers = make(map[string]string, len(creds))
	tokens = make(map[string]oauth1Token, len(creds))
	for _, c := range creds {
		consumers[c.consumerKey] = c.consumerSecret
		tokens[c.token] = oauth1Token{consumerKey: c.consumerKey, secret: c.tokenSecret}
	}
	return consumers, tokens
}

// errOAuth1 is any failure of an OAuth 1.0a check; X's 401 says nothing about why, nor does the fake.
var errOAuth1 = errors.New("OAuth 1.0a check failed")

// checkOAuth1 returns the user whose access token signed r, whose body is raw, and uses its nonce up.
func (h *Handler) checkOAuth1(r *http.Request, raw []byte) (user string, err error) {
	params, err := oauth1HeaderParams(r.Header.Get("Authorization"))
	if err != nil {
		return "", err
	}
	consumerSecret, knownConsumer := h.consumers[params["oauth_consumer_key"]]
	token, knownToken := h.oauth1Tokens[params["oauth_token"]]
	switch {
	case !knownConsumer || !knownToken || token.consumerKey != params["oauth_consumer_key"]:
		return "", errOAuth1
	case params["oauth_signature_method"] != "HMAC-SHA1":
		return "", errOAuth1
	case params["oauth_nonce"] == "":
		return "", errOAuth1
	}
	if version, ok := params["oauth_version"]; ok && version != "1.0" {
		return "", errOAuth1
	}
	if !isDigits(params["oauth_timestamp"]) || len(params["oauth_timestamp"]) > 12 {
		return "", errOAuth1
	}
	unix, _ := strconv.ParseInt(params["oauth_timestamp"], 10, 64) // at most 12 digits: fits
	stamp := time.Unix(unix, 0)
	given, err := base64.StdEncoding.DecodeString(params["oauth_signature"])
	if err != nil {
		return "", errOAuth1
	}
	base, err := oauth1BaseString(r, raw, params)
	if err != nil {
		return "", err
	}
	if !hmac.Equal(given, oauth1Sign(base, consumerSecret, token.secret)) {
		return "", errOAuth1
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	if stamp.Before(now.Add(-oauth1MaxSkew)) || stamp.After(now.Add(oauth1MaxSkew)) {
		return "", errOAuth1
	}
	key := oauth1Nonce{params["oauth_consumer_key"], params["oauth_token"], params["oauth_nonce"]}
	if _, replayed := h.nonces[key]; replayed {
		return "", errOAuth1
	}
	// A nonce need only be remembered while its timestamp passes the check above.
	for old, at := range h.nonces {
		if at.Before(now.Add(-oauth1MaxSkew)) {
			delete(h.nonces, old)
		}
	}
	h.nonces[key] = stamp
	return params["oauth_token"], nil
}

// oauth1HeaderParams parses an "Authorization: OAuth …" header (RFC 5849 §3.5.1) into its parameters,
// realm and oauth_signature included. A parameter given twice, one not of OAuth, or a value not quoted
// is an error.
func oauth1HeaderParams(header string) (map[string]string, error) {
	scheme, rest, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "OAuth") {
		return nil, errOAuth1
	}
	params := make(map[string]string)
	for part := range strings.SplitSeq(rest, ",") {
		name, quoted, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || len(quoted) < 2 || quoted[0] != '"' || quoted[len(quoted)-1] != '"' {
			return nil, errOAuth1
		}
		name, err1 := url.PathUnescape(name)
		value, err2 := url.PathUnescape(quoted[1 : len(quoted)-1])
		if err1 != nil || err2 != nil {
			return nil, errOAuth1
		}
		if _, dup := params[name]; dup || (name != "realm" && !strings.HasPrefix(name, "oauth_")) {
			return nil, errOAuth1
		}
		params[name] = value
	}
	return params, nil
}

// oauth1BaseString is the signature base string of r (RFC 5849 §3.4.1): the method, the base string URI
// and the normalized parameters (query, OAuth parameters but the signature and realm, and the body when it
// is a form), each percent-encoded and joined with "&".
func oauth1BaseString(r *http.Request, raw []byte, oauthParams map[string]string) (string, error) {
	var pairs [][2]string
	add := func(values url.Values) {
		for name, vs := range values {
			for _, v := range vs {
				pairs = append(pairs, [2]string{oauth1Encode(name), oauth1Encode(v)})
			}
		}
	}
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return "", errOAuth1
	}
	add(query)
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/x-www-form-urlencoded" {
		form, err := url.ParseQuery(string(raw))
		if err != nil {
			return "", errOAuth1
		}
		add(form)
	}
	for name, v := range oauthParams {
		if name != "oauth_signature" && name != "realm" {
			pairs = append(pairs, [2]string{oauth1Encode(name), oauth1Encode(v)})
		}
	}
	slices.SortFunc(pairs, func(a, b [2]string) int {
		if c := strings.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return strings.Compare(a[1], b[1])
	})
	var normalized strings.Builder
	for i, p := range pairs {
		if i > 0 {
			normalized.WriteByte('&')
		}
		normalized.WriteString(p[0] + "=" + p[1])
	}
	return strings.ToUpper(r.Method) + "&" + oauth1Encode(oauth1BaseURI(r)) + "&" + oauth1Encode(normalized.String()), nil
}

// oauth1BaseURI is the base string URI (RFC 5849 §3.4.1.2) of a request as the server received it:
// lower-case scheme and host, the port only when it is not the scheme's default, and the path as sent.
func oauth1BaseURI(r *http.Request) string {
	scheme := strings.ToLower(r.URL.Scheme) // set when the request came through Transport
	if scheme == "" {
		scheme = "http"
		if r.TLS != nil {
			scheme = "https"
		}
	}
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	host = strings.ToLower(host)
	if name, port, err := net.SplitHostPort(host); err == nil &&
		(scheme == "http" && port == "80" || scheme == "https" && port == "443") {
		host = name
		if strings.Contains(name, ":") {
			host = "[" + name + "]" // an IPv6 literal keeps its brackets
		}
	}
	return scheme + "://" + host + r.URL.EscapedPath()
}

// oauth1Sign is HMAC-SHA1 over base, keyed with the two secrets (RFC 5849 §3.4.2).
func oauth1Sign(base, consumerSecret, tokenSecret string) []byte {
	mac := hmac.New(sha1.New, []byte(oauth1Encode(consumerSecret)+"&"+oauth1Encode(tokenSecret)))
	mac.Write([]byte(base))
	return mac.Sum(nil)
}

// oauth1Encode percent-encodes s as RFC 5849 §3.6 requires: every byte but the unreserved characters,
// with upper-case hex digits.
func oauth1Encode(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if strings.IndexByte(unreservedChars, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
