package apitest

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// The OAuth 2.0 endpoints, served by the same Handler as the API. X's own are
// https://x.com/i/oauth2/authorize and https://api.x.com/2/oauth2/token.
const (
	AuthorizePath = "/i/oauth2/authorize"
	TokenPath     = "/2/oauth2/token"
)

// DefaultAccessTokenLifetime is how long an issued access token lasts unless WithAccessTokenLifetime says
// otherwise: about what X grants.
const DefaultAccessTokenLifetime = 2 * time.Hour

// codeLifetime is how long an authorization code can be exchanged, on the server's clock.
const codeLifetime = 30 * time.Second

// defaultScopes are the scopes IssueToken grants when it is given none: api.Scopes and offline.access.
// A twin on purpose: api's own tests import apitest, so apitest cannot import api;
// TestApitestGrantsScopesAndOfflineAccessByDefault (api) ties the two.
const defaultScopes = "users.read dm.write tweet.read offline.access"

// xScopes are X's OAuth 2.0 scopes, as its docs list them (OAuth 2.0 Authorization Code Flow with PKCE,
// "Scopes"); spec_oracle_test.go checks that the spec's are among them. The fake grants no other name,
// as X does not, so what a code or a refresh grant keeps is bounded.
var xScopes = []string{
	"tweet.read", "tweet.write", "tweet.moderate.write", "users.email", "users.read", "follows.read",
	"follows.write", "offline.access", "space.read", "mute.read", "mute.write", "like.read", "like.write",
	"list.read", "list.write", "block.read", "block.write", "bookmark.read", "bookmark.write", "dm.read",
	"dm.write", "media.write",
}

// maxScopeBytes bounds the scope parameter the authorize endpoint looks at: all of X's scopes, once
// each, take about 250 bytes.
const maxScopeBytes = 1024

// scopeNames splits a scope parameter into its names, each once, in the order first asked, or says what
// is wrong with it: too long, or a name that is not one of X's. The description quotes no more than a
// scope name's worth of what it was sent.
func scopeNames(scope string) (names []string, problem string) {
	if len(scope) > maxScopeBytes {
		return nil, fmt.Sprintf("The scope is longer than %d bytes.", maxScopeBytes)
	}
	names = strings.Fields(scope)
	for _, name := range names {
		if !slices.Contains(xScopes, name) {
			return nil, fmt.Sprintf("Scope %.32q is not one of X's OAuth 2.0 scopes.", name)
		}
	}
	return distinct(names), ""
}

// oauthClient is an app registered with WithOAuthClient.
type oauthClient struct {
	id           string
	secret       string // "" for a public client
	redirectURIs []string
}

// authCode is an authorization code waiting to be exchanged.
type authCode struct {
	clientID    string
	redirectURI string
	challenge   string // S256
	scope       string
	expiry      time.Time
}

// refreshGrant is what an outstanding refresh token stands for.
type refreshGrant struct {
	clientID string
	user     string
	scope    string
}

// WithOAuthClient registers an app with the fake authorization server. An empty clientSecret makes it a
// public client, which names itself with client_id in the token request's form; with a secret it is
// confidential and must authenticate to the token endpoint with HTTP Basic, as X requires. redirectURIs
// (at least one, absolute) are matched exactly, as X does. Calls add up.
func WithOAuthClient(clientID, clientSecret string, redirectURIs ...string) Option {
	return func(c *config) {
		if clientID == "" {
			c.misuse = append(c.misuse, "WithOAuthClient: empty client ID")
			return
		}
		if len(redirectURIs) == 0 {
			c.misuse = append(c.misuse, fmt.Sprintf("WithOAuthClient: client %q has no redirect URI", clientID))
			return
		}
		for _, uri := range redirectURIs {
			if u, err := url.Parse(uri); err != nil || !u.IsAbs() || u.Host == "" || u.Fragment != "" {
				c.misuse = append(c.misuse, fmt.Sprintf("WithOAuthClient: redirect URI %q is not an absolute URL without a fragment", uri))
				return
			}
		}
		for _, other := range c.clients {
			if other.id == clientID {
				c.misuse = append(c.misuse, fmt.Sprintf("WithOAuthClient: client %q registered twice", clientID))
				return
			}
		}
		c.clients = append(c.clients, oauthClient{id: clientID, secret: clientSecret, redirectURIs: slices.Clone(redirectURIs)})
	}
}

// WithAccessTokenLifetime sets how long access tokens issued through OAuth 2.0 last, on the server's clock
// (WithClock), instead of DefaultAccessTokenLifetime. It must be at least a second: expires_in counts
// whole seconds, rounded down, so that a client never believes a token lasts longer than it does.
func WithAccessTokenLifetime(d time.Duration) Option {
	return func(c *config) {
		if d < time.Second {
			c.misuse = append(c.misuse, fmt.Sprintf("WithAccessTokenLifetime: %v is shorter than a second", d))
			return
		}
		c.lifetime = d
	}
}

// IssueToken returns a token as if OAuthUser had just logged in through clientID, which must be
// registered (WithOAuthClient), without the authorization request: for tests of token sources. scopes,
// each one of X's OAuth 2.0 scope names (a repeated one is granted once), default to "users.read
// dm.write tweet.read offline.access"; the token carries a refresh token only with offline.access, as on
// X. Its Expiry is the server's clock plus the access-token lifetime, and its
// granted scopes, space-separated, are in Extra("scope").
func (h *Handler) IssueToken(clientID string, scopes ...string) (*oauth2.Token, error) {
	if _, ok := h.clients[clientID]; !ok {
		return nil, fmt.Errorf("apitest: IssueToken: client %q is not registered (WithOAuthClient)", clientID)
	}
	scope := defaultScopes
	if len(scopes) > 0 {
		for _, s := range scopes {
			switch {
			case s == "" || strings.ContainsAny(s, " \t\r\n"):
				return nil, fmt.Errorf("apitest: IssueToken: scope %q is empty or contains white space", s)
			case !slices.Contains(xScopes, s):
				return nil, fmt.Errorf("apitest: IssueToken: scope %q is not one of X's OAuth 2.0 scopes", s)
			}
		}
		scope = strings.Join(distinct(scopes), " ")
	}
	h.mu.Lock()
	issued, expiry := h.issueLocked(clientID, OAuthUser, scope)
	h.mu.Unlock()
	tok := &oauth2.Token{
		AccessToken:  issued.AccessToken,
		TokenType:    issued.TokenType,
		RefreshToken: issued.RefreshToken,
		Expiry:       expiry,
		ExpiresIn:    issued.ExpiresIn,
	}
	return tok.WithExtra(map[string]any{"scope": scope}), nil
}

// RefreshRequests returns how many refresh_token grant requests the token endpoint has received, the
// refused ones included.
func (h *Handler) RefreshRequests() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.refreshRequests
}

// RevokeRefreshTokens makes every outstanding refresh token invalid, as when the user revokes the app on
// X: the next refresh with any of them is refused with invalid_grant. Access tokens stay valid until they
// expire.
func (h *Handler) RevokeRefreshTokens() {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.refreshTokens)
}

// tokenResponse is the token endpoint's answer, as X sends it.
type tokenResponse struct {
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	AccessToken  string `json:"access_token"`
	Scope        string `json:"scope"`
	RefreshToken string `json:"refresh_token,omitempty"`
}

// oauthError is an OAuth 2.0 error answer (RFC 6749 §5.2).
type oauthError struct {
	status      int
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func invalidRequestf(format string, args ...any) *oauthError {
	return &oauthError{status: http.StatusBadRequest, Code: "invalid_request", Description: fmt.Sprintf(format, args...)}
}

func invalidGrant(description string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, Code: "invalid_grant", Description: description}
}

// newSecret returns a fresh token or code: 26 characters of base32, 128 random bits.
func newSecret() string { return rand.Text() }

// issueLocked makes an access token for user (and a refresh token when scope has offline.access) and
// returns the token endpoint's answer and the access token's expiry. Call with h.mu held.
func (h *Handler) issueLocked(clientID, user, scope string) (tokenResponse, time.Time) {
	resp := tokenResponse{
		TokenType:   "bearer",
		ExpiresIn:   int64(h.lifetime / time.Second),
		AccessToken: newSecret(),
		Scope:       scope,
	}
	if slices.Contains(strings.Fields(scope), "offline.access") {
		resp.RefreshToken = newSecret()
	}
	expiry := h.now().Add(h.lifetime)
	h.tokens[resp.AccessToken] = bearer{user: user, expiry: expiry}
	if resp.RefreshToken != "" {
		h.refreshTokens[resp.RefreshToken] = refreshGrant{clientID: clientID, user: user, scope: scope}
	}
	return resp, expiry
}

// serveToken answers POST TokenPath: the authorization_code and refresh_token grants.
func (h *Handler) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeOAuthError(w, &oauthError{status: http.StatusMethodNotAllowed, Code: "invalid_request", Description: "The token endpoint takes POST."})
		return
	}
	resp, oerr := h.token(r)
	if oerr != nil {
		writeOAuthError(w, oerr)
		return
	}
	writeNoStore(w, http.StatusOK, resp)
}

func (h *Handler) token(r *http.Request) (tokenResponse, *oauthError) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return tokenResponse{}, invalidRequestf("The request body could not be read.")
	}
	if len(raw) > maxBodyBytes {
		return tokenResponse{}, invalidRequestf("The request body is larger than %d bytes.", maxBodyBytes)
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/x-www-form-urlencoded" {
		return tokenResponse{}, invalidRequestf("The body must be application/x-www-form-urlencoded.")
	}
	form, err := url.ParseQuery(string(raw))
	if err != nil {
		return tokenResponse{}, invalidRequestf("The body is not a valid form.")
	}
	for name, values := range form {
		if len(values) > 1 {
			return tokenResponse{}, invalidRequestf("Parameter %q is repeated.", name)
		}
	}
	grant := form.Get("grant_type")
	if grant == "refresh_token" {
		h.mu.Lock()
		h.refreshRequests++
		h.mu.Unlock()
	}
	client, oerr := h.authenticateClient(r, form)
	if oerr != nil {
		return tokenResponse{}, oerr
	}
	switch grant {
	case "authorization_code":
		return h.exchangeCode(client, form)
	case "refresh_token":
		return h.refresh(client, form)
	case "":
		return tokenResponse{}, invalidRequestf("Missing required parameter [grant_type].")
	default:
		return tokenResponse{}, &oauthError{status: http.StatusBadRequest, Code: "unsupported_grant_type", Description: "Value passed for the grant type was invalid."}
	}
}

// authenticateClient finds the app a token request comes from: a confidential client by HTTP Basic
// (client ID and secret form-encoded, RFC 6749 §2.3.1), a public one by client_id in the form (or by
// Basic with an empty secret).
func (h *Handler) authenticateClient(r *http.Request, form url.Values) (oauthClient, *oauthError) {
	invalidClient := &oauthError{status: http.StatusUnauthorized, Code: "invalid_client", Description: "Client authentication failed."}
	if user, pass, ok := r.BasicAuth(); ok {
		id, err1 := url.QueryUnescape(user)
		secret, err2 := url.QueryUnescape(pass)
		if err1 != nil || err2 != nil {
			return oauthClient{}, invalidClient
		}
		c, known := h.clients[id]
		switch {
		case !known:
			return oauthClient{}, invalidClient
		case form.Has("client_secret"):
			return oauthClient{}, invalidRequestf("The client authenticated in more than one way.")
		case form.Has("client_id") && form.Get("client_id") != id:
			return oauthClient{}, invalidRequestf("client_id does not match the client that authenticated.")
		case subtle.ConstantTimeCompare([]byte(secret), []byte(c.secret)) != 1:
			return oauthClient{}, invalidClient
		}
		return c, nil
	}
	c, known := h.clients[form.Get("client_id")]
	switch {
	case !known:
		return oauthClient{}, invalidClient
	case c.secret != "":
		// X's answer to a confidential client that does not use Basic, a secret in the form included.
		return oauthClient{}, &oauthError{status: http.StatusUnauthorized, Code: "unauthorized_client", Description: "Missing valid authorization header"}
	case form.Has("client_secret"):
		return oauthClient{}, invalidClient // a public client has no secret
	}
	return c, nil
}

// exchangeCode is the authorization_code grant. A code is used up by the first request that presents it
// for its client, whether or not the rest checks out: a wrong verifier cannot be retried.
func (h *Handler) exchangeCode(client oauthClient, form url.Values) (tokenResponse, *oauthError) {
	code := form.Get("code")
	if code == "" {
		return tokenResponse{}, invalidRequestf("Missing required parameter [code].")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	ac, ok := h.codes[code]
	if ok && ac.clientID == client.id {
		delete(h.codes, code)
	}
	switch {
	case !ok || ac.clientID != client.id:
		return tokenResponse{}, invalidGrant("Value passed for the authorization code was invalid.")
	case !h.now().Before(ac.expiry):
		return tokenResponse{}, invalidGrant("The authorization code has expired.")
	case form.Get("redirect_uri") != ac.redirectURI:
		return tokenResponse{}, invalidGrant("Value passed for the redirect uri did not match the one the code was issued for.")
	case !verifierMatches(form.Get("code_verifier"), ac.challenge):
		return tokenResponse{}, invalidGrant("Value passed for the code verifier did not match the code challenge.")
	}
	resp, _ := h.issueLocked(client.id, OAuthUser, ac.scope)
	return resp, nil
}

// refresh is the refresh_token grant. Refresh tokens are single use: each answer carries a new one, and
// the one presented is gone. Another client's refresh token is refused and left alone.
func (h *Handler) refresh(client oauthClient, form url.Values) (tokenResponse, *oauthError) {
	presented := form.Get("refresh_token")
	if presented == "" {
		return tokenResponse{}, invalidRequestf("Missing required parameter [refresh_token].")
	}
	var asked []string
	if form.Has("scope") {
		asked = strings.Fields(form.Get("scope"))
	}
	h.mu.Lock()
	g, ok := h.refreshTokens[presented]
	ok = ok && g.clientID == client.id
	// A refresh may narrow the scopes, never widen them (RFC 6749 §6); a refused one changes nothing.
	scopeOK := ok && subset(asked, strings.Fields(g.scope))
	if !scopeOK {
		h.mu.Unlock()
		if !ok {
			return tokenResponse{}, invalidGrant("Value passed for the token was invalid.")
		}
		return tokenResponse{}, &oauthError{status: http.StatusBadRequest, Code: "invalid_scope", Description: "A scope was asked for that the grant does not have."}
	}
	// Rotated under the same lock, so that RevokeRefreshTokens cannot fall between the old one's end and
	// the new one's start.
	delete(h.refreshTokens, presented)
	scope := g.scope
	if len(asked) > 0 {
		scope = strings.Join(distinct(asked), " ")
	}
	resp, _ := h.issueLocked(client.id, g.user, scope)
	h.mu.Unlock()
	return resp, nil
}

// distinct returns names without repeats, in the order first seen.
func distinct(names []string) []string {
	var once []string
	for _, name := range names {
		if !slices.Contains(once, name) {
			once = append(once, name)
		}
	}
	return once
}

// subset reports whether every one of some is in all.
func subset(some, all []string) bool {
	for _, s := range some {
		if !slices.Contains(all, s) {
			return false
		}
	}
	return true
}

// verifierMatches checks a PKCE code_verifier against an S256 code_challenge (RFC 7636 §4.6).
func verifierMatches(verifier, challenge string) bool {
	if len(verifier) < 43 || len(verifier) > 128 || strings.Trim(verifier, unreservedChars) != "" {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	want := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(want), []byte(challenge)) == 1
}

// unreservedChars are RFC 3986's unreserved characters, those a PKCE verifier is made of.
const unreservedChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"

func writeOAuthError(w http.ResponseWriter, e *oauthError) {
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="apitest"`)
	}
	writeNoStore(w, e.status, e)
}

// writeNoStore sends a JSON answer of the token endpoint, which must not be cached (RFC 6749 §5.1).
func writeNoStore(w http.ResponseWriter, status int, body any) {
	data, err := json.Marshal(body)
	if err != nil {
		// Only this package's own types reach here; they always encode.
		panic("apitest: encoding a response: " + err.Error())
	}
	header := w.Header()
	header.Set("Content-Type", "application/json;charset=UTF-8")
	header.Set("Cache-Control", "no-store")
	header.Set("Pragma", "no-cache")
	header.Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

// serveAuthorize answers GET AuthorizePath as X's consent page would if the fake user approved at once:
// a redirect to the app's redirect URI with a code and the state. A request that names no registered
// client or redirect URI gets a 400 page and no redirect, so that a bad link cannot send the user
// elsewhere; a scope that is not X's is reported to the app by a redirect with error=invalid_scope, any
// other mistake with error=invalid_request.
func (h *Handler) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writePage(w, http.StatusMethodNotAllowed, "The authorization page takes GET.")
		return
	}
	q := r.URL.Query()
	client, known := h.clients[q.Get("client_id")]
	if !known || len(q["client_id"]) > 1 {
		writePage(w, http.StatusBadRequest, "Something went wrong: the client_id is not that of a registered app.")
		return
	}
	redirectURI := q.Get("redirect_uri")
	if !slices.Contains(client.redirectURIs, redirectURI) || len(q["redirect_uri"]) > 1 {
		writePage(w, http.StatusBadRequest, "Something went wrong: the redirect_uri is not one the app registered.")
		return
	}
	back := func(params url.Values) {
		u, _ := url.Parse(redirectURI) // WithOAuthClient checked it parses
		merged := u.Query()
		for name, values := range params {
			merged[name] = values
		}
		if state := q.Get("state"); state != "" {
			merged.Set("state", state)
		}
		u.RawQuery = merged.Encode()
		w.Header().Set("Location", u.String())
		w.WriteHeader(http.StatusFound)
	}
	if problem := authorizeProblem(q); problem != "" {
		back(url.Values{"error": {"invalid_request"}, "error_description": {problem}})
		return
	}
	scopes, problem := scopeNames(q.Get("scope"))
	if problem != "" {
		back(url.Values{"error": {"invalid_scope"}, "error_description": {problem}})
		return
	}
	code := newSecret()
	h.mu.Lock()
	now := h.now()
	for old, c := range h.codes {
		if !now.Before(c.expiry) {
			delete(h.codes, old) // codes nobody exchanged do not pile up
		}
	}
	h.codes[code] = authCode{
		clientID:    client.id,
		redirectURI: redirectURI,
		challenge:   q.Get("code_challenge"),
		scope:       strings.Join(scopes, " "),
		expiry:      now.Add(codeLifetime),
	}
	h.mu.Unlock()
	back(url.Values{"code": {code}})
}

// authorizeProblem says what is wrong with an authorization request from a known client to a registered
// redirect URI, or "" when nothing is.
func authorizeProblem(q url.Values) string {
	for name, values := range q {
		if len(values) > 1 {
			return fmt.Sprintf("Parameter %q is repeated.", name)
		}
	}
	switch {
	case q.Get("response_type") != "code":
		return "response_type must be code."
	case strings.TrimSpace(q.Get("scope")) == "":
		return "Missing required parameter [scope]."
	case q.Get("state") == "":
		return "Missing required parameter [state]."
	case q.Get("code_challenge_method") != "S256":
		return "code_challenge_method must be S256."
	case !isS256Challenge(q.Get("code_challenge")):
		return "code_challenge must be an S256 challenge: 43 characters of base64url."
	}
	return ""
}

// isS256Challenge reports whether s has the form of BASE64URL(SHA256(verifier)) without padding.
func isS256Challenge(s string) bool {
	sum, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && len(sum) == sha256.Size
}

// writePage sends a short HTML page, as X's authorization page shows a person.
func writePage(w http.ResponseWriter, status int, text string) {
	page := "<!doctype html>\n<title>apitest</title>\n<p>" + html.EscapeString(text) + "</p>\n"
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(page)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, page)
}
