package apitest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

const (
	publicID     = "public-app"
	confidential = "confidential-app"
	appSecret    = "apitest-client-secret"
	callback     = "http://127.0.0.1:8080/callback"
)

// oauthServer is a fake X with a public and a confidential app registered, on clock.
func oauthServer(t *testing.T, clock *fakeClock, opts ...Option) *Server {
	t.Helper()
	s := NewServer(append([]Option{
		WithOAuthClient(publicID, "", callback),
		WithOAuthClient(confidential, appSecret, "http://localhost:9999/cb", callback),
		WithClock(clock.Now),
	}, opts...)...)
	t.Cleanup(s.Close)
	return s
}

func newClock() *fakeClock { return &fakeClock{now: time.Unix(1_800_000_000, 0)} }

// tokenAnswer is what a raw token request got back.
type tokenAnswer struct {
	status int
	header http.Header
	body   map[string]any
}

func (a tokenAnswer) str(name string) string { s, _ := a.body[name].(string); return s }

// postToken sends form to the token endpoint, with HTTP Basic when basic is not nil.
func postToken(t *testing.T, s *Server, form url.Values, basic *url.Userinfo) tokenAnswer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+TokenPath, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic != nil {
		secret, _ := basic.Password()
		req.SetBasicAuth(url.QueryEscape(basic.Username()), url.QueryEscape(secret))
	}
	return doToken(t, req)
}

func doToken(t *testing.T, req *http.Request) tokenAnswer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("token endpoint answered %d with a body that is not a JSON object: %v", resp.StatusCode, err)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	return tokenAnswer{status: resp.StatusCode, header: resp.Header, body: body}
}

func refreshForm(clientID, refreshToken string) url.Values {
	f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}
	if clientID != "" {
		f.Set("client_id", clientID)
	}
	return f
}

// wantOAuthError fails unless a is an OAuth error answer with status and code.
func wantOAuthError(t *testing.T, what string, a tokenAnswer, status int, code string) {
	t.Helper()
	if a.status != status || a.str("error") != code || a.str("error_description") == "" {
		t.Errorf("%s: got %d error %q (description %q), want %d %s with a description", what, a.status, a.str("error"), a.str("error_description"), status, code)
	}
	if a.str("access_token") != "" || a.str("refresh_token") != "" {
		t.Errorf("%s: a refusal carries a token", what)
	}
}

// markWith marks conversation "1" read up to seq with token and returns the status.
func markWith(t *testing.T, s *Server, token, seq string) int {
	t.Helper()
	r := markRequest("1", markBody(seq))
	r.token = token
	return send(t, s, r).status
}

func TestIssueToken(t *testing.T) {
	clock := newClock()
	s := oauthServer(t, clock, WithAccessTokenLifetime(time.Hour))
	tok, err := s.IssueToken(publicID)
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.AccessToken == tok.RefreshToken || tok.TokenType != "bearer" {
		t.Error("want a bearer access token and a distinct refresh token")
	}
	if want := clock.Now().Add(time.Hour); !tok.Expiry.Equal(want) || tok.ExpiresIn != 3600 {
		t.Errorf("Expiry %v, ExpiresIn %d; want %v and 3600", tok.Expiry, tok.ExpiresIn, want)
	}
	if got := tok.Extra("scope"); got != "users.read dm.write tweet.read offline.access" {
		t.Errorf("Extra(scope) = %v, want the default scopes", got)
	}

	short, err := s.IssueToken(confidential, "dm.write", "users.read")
	if err != nil {
		t.Fatal(err)
	}
	if short.RefreshToken != "" || short.Extra("scope") != "dm.write users.read" {
		t.Errorf("without offline.access: refresh token present %v, scope %v; want none and the scopes asked", short.RefreshToken != "", short.Extra("scope"))
	}

	for name, issue := range map[string]func() (*oauth2.Token, error){
		"unregistered client": func() (*oauth2.Token, error) { return s.IssueToken("nobody") },
		"empty scope":         func() (*oauth2.Token, error) { return s.IssueToken(publicID, "") },
		"scope with a space":  func() (*oauth2.Token, error) { return s.IssueToken(publicID, "dm.write users.read") },
		"not one of X's":      func() (*oauth2.Token, error) { return s.IssueToken(publicID, "dm.write", "dm.read.all") },
	} {
		if tok, err := issue(); err == nil || tok != nil {
			t.Errorf("%s: got a token and err %v, want an error only", name, err)
		}
	}
}

// An issued token marks for OAuthUser until it expires, on the server's clock; then it gets X's 401.
func TestIssuedTokenAuthenticatesUntilItExpires(t *testing.T) {
	clock := newClock()
	s := oauthServer(t, clock, WithAccessTokenLifetime(time.Minute))
	tok, err := s.IssueToken(publicID)
	if err != nil {
		t.Fatal(err)
	}
	if status := markWith(t, s, tok.AccessToken, "5"); status != http.StatusOK {
		t.Fatalf("fresh token: got %d, want 200", status)
	}
	if m := s.Marks(); len(m) != 1 || m[0].User != OAuthUser || m[0].Token != tok.AccessToken {
		t.Errorf("mark recorded for user %q, want %q with the token presented", m[0].User, OAuthUser)
	}
	clock.Advance(time.Minute - time.Nanosecond)
	if status := markWith(t, s, tok.AccessToken, "6"); status != http.StatusOK {
		t.Fatalf("just before expiry: got %d, want 200", status)
	}
	clock.Advance(time.Nanosecond)
	if status := markWith(t, s, tok.AccessToken, "7"); status != http.StatusUnauthorized {
		t.Fatalf("at expiry: got %d, want 401", status)
	}
	if seq, _ := s.ReadState(tok.AccessToken, "1"); seq != "6" {
		t.Errorf("read state %q through the expired token, want 6", seq)
	}
	// The refresh token is the wrong kind of token for the API.
	if status := markWith(t, s, tok.RefreshToken, "8"); status != http.StatusUnauthorized {
		t.Errorf("refresh token as bearer: got %d, want 401", status)
	}
	if s.Requests() != 4 {
		t.Errorf("Requests = %d, want 4", s.Requests())
	}
}

func TestRefreshRotatesAndIsSingleUse(t *testing.T) {
	clock := newClock()
	s := oauthServer(t, clock, WithAccessTokenLifetime(90*time.Second))
	first, err := s.IssueToken(publicID)
	if err != nil {
		t.Fatal(err)
	}
	a := postToken(t, s, refreshForm(publicID, first.RefreshToken), nil)
	if a.status != http.StatusOK {
		t.Fatalf("refresh: got %d %v, want 200", a.status, a.body["error"])
	}
	if a.str("token_type") != "bearer" || a.body["expires_in"] != float64(90) || a.str("scope") != defaultScopes {
		t.Errorf("refresh answer: token_type %v, expires_in %v, scope %v; want bearer, 90, the granted scopes", a.body["token_type"], a.body["expires_in"], a.body["scope"])
	}
	second, secondRefresh := a.str("access_token"), a.str("refresh_token")
	if second == "" || secondRefresh == "" || second == first.AccessToken || secondRefresh == first.RefreshToken {
		t.Fatal("a refresh must answer a new access token and a new refresh token")
	}

	wantOAuthError(t, "reusing the old refresh token", postToken(t, s, refreshForm(publicID, first.RefreshToken), nil), 400, "invalid_grant")
	wantOAuthError(t, "an unknown refresh token", postToken(t, s, refreshForm(publicID, "not-a-refresh-token"), nil), 400, "invalid_grant")
	// Old access tokens stay valid until they expire.
	if status := markWith(t, s, first.AccessToken, "1"); status != http.StatusOK {
		t.Errorf("the first access token after the refresh: got %d, want 200", status)
	}
	if status := markWith(t, s, second, "2"); status != http.StatusOK {
		t.Errorf("the new access token: got %d, want 200", status)
	}
	if a := postToken(t, s, refreshForm(publicID, secondRefresh), nil); a.status != http.StatusOK {
		t.Errorf("the rotated refresh token: got %d %v, want 200", a.status, a.body["error"])
	}
	if n := s.RefreshRequests(); n != 4 {
		t.Errorf("RefreshRequests = %d, want 4 (refused ones included)", n)
	}
}

// Concurrent refreshes with one refresh token: exactly one wins, as on X, where the losers' bots then
// need a human.
func TestConcurrentRefreshesOneWins(t *testing.T) {
	s := oauthServer(t, newClock())
	tok, err := s.IssueToken(publicID)
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	statuses := make(chan tokenAnswer, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { statuses <- postToken(t, s, refreshForm(publicID, tok.RefreshToken), nil) })
	}
	wg.Wait()
	close(statuses)
	won := 0
	for a := range statuses {
		if a.status == http.StatusOK {
			won++
		} else {
			wantOAuthError(t, "a losing refresh", a, 400, "invalid_grant")
		}
	}
	if won != 1 || s.RefreshRequests() != n {
		t.Errorf("%d refreshes won of %d requests counted; want 1 of %d", won, s.RefreshRequests(), n)
	}
}

func TestRevokeRefreshTokens(t *testing.T) {
	s := oauthServer(t, newClock())
	tok, err := s.IssueToken(publicID)
	if err != nil {
		t.Fatal(err)
	}
	s.RevokeRefreshTokens()
	wantOAuthError(t, "refresh after revocation", postToken(t, s, refreshForm(publicID, tok.RefreshToken), nil), 400, "invalid_grant")
	if status := markWith(t, s, tok.AccessToken, "1"); status != http.StatusOK {
		t.Errorf("access token after revocation: got %d, want 200 until it expires", status)
	}
	// Tokens issued afterwards work.
	later, err := s.IssueToken(publicID)
	if err != nil {
		t.Fatal(err)
	}
	if a := postToken(t, s, refreshForm(publicID, later.RefreshToken), nil); a.status != http.StatusOK {
		t.Errorf("a refresh token issued after revocation: got %d, want 200", a.status)
	}
}

// A refresh token is bound to its app: another app's attempt is refused and does not use it up.
func TestRefreshTokenIsBoundToItsClient(t *testing.T) {
	s := oauthServer(t, newClock())
	tok, err := s.IssueToken(publicID)
	if err != nil {
		t.Fatal(err)
	}
	wantOAuthError(t, "another client's refresh token",
		postToken(t, s, refreshForm("", tok.RefreshToken), url.UserPassword(confidential, appSecret)), 400, "invalid_grant")
	if a := postToken(t, s, refreshForm(publicID, tok.RefreshToken), nil); a.status != http.StatusOK {
		t.Errorf("its own client afterwards: got %d, want 200", a.status)
	}
}

func TestRefreshMayNarrowTheScopes(t *testing.T) {
	s := oauthServer(t, newClock())
	tok, err := s.IssueToken(publicID)
	if err != nil {
		t.Fatal(err)
	}
	wider := refreshForm(publicID, tok.RefreshToken)
	wider.Set("scope", "dm.write dm.read")
	wantOAuthError(t, "a wider scope", postToken(t, s, wider, nil), 400, "invalid_scope")
	narrower := refreshForm(publicID, tok.RefreshToken)
	narrower.Set("scope", "dm.write offline.access dm.write")
	a := postToken(t, s, narrower, nil)
	if a.status != http.StatusOK || a.str("scope") != "dm.write offline.access" || a.str("refresh_token") == "" {
		t.Errorf("a narrower scope: got %d, scope %q; want 200, the scopes asked (each once) and a refresh token", a.status, a.str("scope"))
	}
}

func TestTokenEndpointClientAuthentication(t *testing.T) {
	s := oauthServer(t, newClock())
	issue := func(clientID string) string {
		tok, err := s.IssueToken(clientID)
		if err != nil {
			t.Fatal(err)
		}
		return tok.RefreshToken
	}

	// A confidential client with HTTP Basic, as X requires.
	if a := postToken(t, s, refreshForm("", issue(confidential)), url.UserPassword(confidential, appSecret)); a.status != http.StatusOK {
		t.Errorf("confidential client with Basic: got %d %v, want 200", a.status, a.body["error"])
	}
	// A public client may name itself with Basic and no secret.
	if a := postToken(t, s, refreshForm("", issue(publicID)), url.UserPassword(publicID, "")); a.status != http.StatusOK {
		t.Errorf("public client with Basic and no secret: got %d %v, want 200", a.status, a.body["error"])
	}

	withSecretInForm := refreshForm(confidential, issue(confidential))
	withSecretInForm.Set("client_secret", appSecret)
	withBoth := refreshForm("", issue(confidential))
	withBoth.Set("client_secret", appSecret)
	publicWithSecret := refreshForm(publicID, issue(publicID))
	publicWithSecret.Set("client_secret", "anything")
	for _, tt := range []struct {
		name   string
		form   url.Values
		basic  *url.Userinfo
		status int
		code   string
	}{
		{"confidential, secret in the form", withSecretInForm, nil, 401, "unauthorized_client"},
		{"confidential, client_id only", refreshForm(confidential, issue(confidential)), nil, 401, "unauthorized_client"},
		{"confidential, wrong secret", refreshForm("", issue(confidential)), url.UserPassword(confidential, "wrong"), 401, "invalid_client"},
		{"confidential, no secret", refreshForm("", issue(confidential)), url.UserPassword(confidential, ""), 401, "invalid_client"},
		{"confidential, Basic and a secret in the form", withBoth, url.UserPassword(confidential, appSecret), 400, "invalid_request"},
		{"Basic naming another client_id", refreshForm(publicID, issue(confidential)), url.UserPassword(confidential, appSecret), 400, "invalid_request"},
		{"public, with a secret", publicWithSecret, nil, 401, "invalid_client"},
		{"public, with a secret in Basic", refreshForm("", issue(publicID)), url.UserPassword(publicID, "x"), 401, "invalid_client"},
		{"unknown client", refreshForm("nobody", issue(publicID)), nil, 401, "invalid_client"},
		{"unknown client in Basic", refreshForm("", issue(publicID)), url.UserPassword("nobody", ""), 401, "invalid_client"},
		{"no client at all", refreshForm("", issue(publicID)), nil, 401, "invalid_client"},
	} {
		a := postToken(t, s, tt.form, tt.basic)
		wantOAuthError(t, tt.name, a, tt.status, tt.code)
		if tt.status == 401 && !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("%s: 401 without a Basic challenge", tt.name)
		}
	}
}

func TestTokenEndpointRefusesMalformedRequests(t *testing.T) {
	s := oauthServer(t, newClock())
	tok, err := s.IssueToken(publicID)
	if err != nil {
		t.Fatal(err)
	}
	raw := func(method, contentType, body string) tokenAnswer {
		req, err := http.NewRequest(method, s.URL+TokenPath, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		return doToken(t, req)
	}
	good := refreshForm(publicID, tok.RefreshToken).Encode()
	a := raw(http.MethodGet, "", "")
	wantOAuthError(t, "GET", a, 405, "invalid_request")
	if a.header.Get("Allow") != http.MethodPost {
		t.Errorf("405 with Allow %q, want POST", a.header.Get("Allow"))
	}
	wantOAuthError(t, "JSON body", raw(http.MethodPost, "application/json", `{"grant_type":"refresh_token"}`), 400, "invalid_request")
	wantOAuthError(t, "no content type", raw(http.MethodPost, "", good), 400, "invalid_request")
	wantOAuthError(t, "broken form", raw(http.MethodPost, "application/x-www-form-urlencoded", "grant_type=%zz"), 400, "invalid_request")
	wantOAuthError(t, "repeated parameter", raw(http.MethodPost, "application/x-www-form-urlencoded", good+"&grant_type=refresh_token"), 400, "invalid_request")
	wantOAuthError(t, "oversized body", raw(http.MethodPost, "application/x-www-form-urlencoded", good+"&x="+strings.Repeat("a", maxBodyBytes)), 400, "invalid_request")
	wantOAuthError(t, "no grant_type", postToken(t, s, url.Values{"client_id": {publicID}}, nil), 400, "invalid_request")
	wantOAuthError(t, "client_credentials", postToken(t, s, url.Values{"client_id": {publicID}, "grant_type": {"client_credentials"}}, nil), 400, "unsupported_grant_type")
	wantOAuthError(t, "no refresh_token", postToken(t, s, refreshForm(publicID, ""), nil), 400, "invalid_request")
	// None of these used the refresh token up, and none counted at the API.
	if a := raw(http.MethodPost, "application/x-www-form-urlencoded; charset=utf-8", good); a.status != http.StatusOK {
		t.Errorf("the refresh token after malformed requests: got %d, want 200", a.status)
	}
	if s.Requests() != 0 {
		t.Errorf("Requests = %d, want 0: the OAuth endpoints are not the API", s.Requests())
	}
}

// A refreshed token is the same user: its read state and its rate-limit window carry over, and every
// token of the user, the expired one included, reads them.
func TestRefreshedTokenKeepsItsUsersStateAndWindow(t *testing.T) {
	clock := newClock()
	s := oauthServer(t, clock, WithAccessTokenLifetime(time.Minute), WithRateLimit(3, time.Hour))
	first, err := s.IssueToken(publicID)
	if err != nil {
		t.Fatal(err)
	}
	if status := markWith(t, s, first.AccessToken, "10"); status != http.StatusOK {
		t.Fatalf("first token: got %d, want 200", status)
	}
	clock.Advance(2 * time.Minute)
	a := postToken(t, s, refreshForm(publicID, first.RefreshToken), nil)
	second := a.str("access_token")
	if a.status != http.StatusOK {
		t.Fatalf("refresh: got %d, want 200", a.status)
	}
	if seq, _ := s.ReadState(second, "1"); seq != "10" {
		t.Errorf("read state through the refreshed token = %q, want 10", seq)
	}
	if status := markWith(t, s, second, "11"); status != http.StatusOK {
		t.Fatalf("refreshed token: got %d, want 200", status)
	}
	for _, tok := range []string{first.AccessToken, second} {
		if seq, _ := s.ReadState(tok, "1"); seq != "11" {
			t.Errorf("read state = %q, want 11 through every token of the user", seq)
		}
		if rl := s.RateLimit(tok); rl.Remaining != 1 {
			t.Errorf("RateLimit remaining %d, want 1: one window for the user", rl.Remaining)
		}
	}
	// Another login is the same user too.
	other, err := s.IssueToken(confidential)
	if err != nil {
		t.Fatal(err)
	}
	if status := markWith(t, s, other.AccessToken, "12"); status != http.StatusOK {
		t.Fatalf("third token: got %d, want 200", status)
	}
	if status := markWith(t, s, second, "13"); status != http.StatusTooManyRequests {
		t.Errorf("fourth request in the user's window of 3: got %d, want 429", status)
	}
	// Tokens of other users are not OAuthUser's.
	if _, ok := s.ReadState(DefaultToken, "1"); ok {
		t.Error("DefaultToken sees OAuthUser's read state")
	}
}

func TestOAuthOptionsMisusePanics(t *testing.T) {
	for name, opt := range map[string]Option{
		"empty client ID":       WithOAuthClient("", "", callback),
		"no redirect URI":       WithOAuthClient("app", ""),
		"relative redirect URI": WithOAuthClient("app", "", "/callback"),
		"redirect with a #":     WithOAuthClient("app", "", callback+"#x"),
		"sub-second lifetime":   WithAccessTokenLifetime(time.Second - 1),
		"negative lifetime":     WithAccessTokenLifetime(-time.Hour),
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if r := recover(); r == nil {
					t.Error("NewHandler did not panic")
				} else if msg := fmt.Sprint(r); strings.Contains(msg, appSecret) {
					t.Error("the panic shows the client secret")
				}
			}()
			NewHandler(opt)
		})
	}
	t.Run("client registered twice", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Error("NewHandler did not panic")
			}
		}()
		NewHandler(WithOAuthClient("app", "", callback), WithOAuthClient("app", appSecret, callback))
	})
}

// The token endpoint's refusals are what x/oauth2 decodes into a RetrieveError with the error code.
func TestRefusalsDecodeAsRetrieveErrors(t *testing.T) {
	s := oauthServer(t, newClock())
	conf := &oauth2.Config{ClientID: publicID, Endpoint: oauth2.Endpoint{TokenURL: s.URL + TokenPath, AuthStyle: oauth2.AuthStyleInParams}}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: s.Transport()})
	_, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: "unknown"}).Token()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" || re.Response.StatusCode != 400 {
		t.Errorf("err = %v, want a RetrieveError with 400 invalid_grant", err)
	}
}

// noRedirects is an HTTP client that hands back redirects instead of following them, as a test playing
// the browser needs.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// authorize GETs the authorization page with params and returns the status, the Location header and the
// body.
func authorize(t *testing.T, s *Server, params url.Values) (int, string, string) {
	t.Helper()
	resp, err := noRedirects.Get(s.URL + AuthorizePath + "?" + params.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Location"), string(body)
}

// authorizeParams is a correct authorization request for publicID with the challenge of verifier.
func authorizeParams(verifier string) url.Values {
	return url.Values{
		"response_type":         {"code"},
		"client_id":             {publicID},
		"redirect_uri":          {callback},
		"scope":                 {defaultScopes},
		"state":                 {"state-1"},
		"code_challenge":        {oauth2.S256ChallengeFromVerifier(verifier)},
		"code_challenge_method": {"S256"},
	}
}

// codeFor runs the authorization request and returns the code the redirect carries.
func codeFor(t *testing.T, s *Server, params url.Values) string {
	t.Helper()
	status, location, _ := authorize(t, s, params)
	u, err := url.Parse(location)
	if status != http.StatusFound || err != nil || u.Query().Get("code") == "" {
		t.Fatalf("authorize: got %d, a Location with code %v; want 302 with a code", status, err == nil && u.Query().Has("code"))
	}
	return u.Query().Get("code")
}

func codeForm(code, verifier string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "client_id": {publicID}, "code": {code}, "redirect_uri": {callback}, "code_verifier": {verifier}}
}

// The whole login as markread login does it, with x/oauth2's own client, for a public app (client_id in
// the form) and a confidential one (HTTP Basic); the token it gets marks for OAuthUser.
func TestLoginRoundTripWithXOAuth2(t *testing.T) {
	for _, tt := range []struct {
		name, clientID, secret string
		style                  oauth2.AuthStyle
	}{
		{"public", publicID, "", oauth2.AuthStyleInParams},
		{"confidential", confidential, appSecret, oauth2.AuthStyleInHeader},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := oauthServer(t, newClock())
			conf := &oauth2.Config{
				ClientID:     tt.clientID,
				ClientSecret: tt.secret,
				RedirectURL:  callback,
				Scopes:       strings.Fields(defaultScopes),
				Endpoint:     oauth2.Endpoint{AuthURL: s.URL + AuthorizePath, TokenURL: s.URL + TokenPath, AuthStyle: tt.style},
			}
			verifier := oauth2.GenerateVerifier()
			state := "a state/with & odd=chars é"
			resp, err := noRedirects.Get(conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			back, err := resp.Location()
			if resp.StatusCode != http.StatusFound || err != nil {
				t.Fatalf("authorize: got %d, want 302 with a Location", resp.StatusCode)
			}
			if got := back.Scheme + "://" + back.Host + back.Path; got != callback {
				t.Errorf("redirected to %s, want %s", got, callback)
			}
			if back.Query().Get("state") != state {
				t.Errorf("state %q came back as %q", state, back.Query().Get("state"))
			}
			ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: s.Transport()})
			tok, err := conf.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			if tok.AccessToken == "" || tok.RefreshToken == "" || tok.Extra("scope") != defaultScopes || tok.Expiry.IsZero() {
				t.Errorf("token: access %v, refresh %v, scope %v, expiry %v; want both tokens, the scopes asked and an expiry",
					tok.AccessToken != "", tok.RefreshToken != "", tok.Extra("scope"), tok.Expiry)
			}
			if status := markWith(t, s, tok.AccessToken, "3"); status != http.StatusOK {
				t.Fatalf("mark with the new token: got %d, want 200", status)
			}
			// A refresh through the same config, as the token source does it.
			tok.Expiry = time.Now().Add(-time.Minute)
			fresh, err := conf.TokenSource(ctx, tok).Token()
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			if fresh.AccessToken == tok.AccessToken || fresh.RefreshToken == tok.RefreshToken || s.RefreshRequests() != 1 {
				t.Error("the refresh did not rotate both tokens in one request")
			}
			if seq, _ := s.ReadState(fresh.AccessToken, "1"); seq != "3" {
				t.Errorf("read state through the refreshed token = %q, want 3", seq)
			}
			if s.Requests() != 1 {
				t.Errorf("Requests = %d, want 1: only the mark is the API's", s.Requests())
			}
		})
	}
}

// A bad client or redirect URI gets a page and no redirect; any other mistake goes back to the app with
// error=invalid_request and the state.
func TestAuthorizeRefusals(t *testing.T) {
	s := oauthServer(t, newClock())
	verifier := oauth2.GenerateVerifier()
	with := func(name, value string) url.Values {
		p := authorizeParams(verifier)
		if value == "" {
			p.Del(name)
		} else {
			p.Set(name, value)
		}
		return p
	}
	for name, params := range map[string]url.Values{
		"unknown client":               with("client_id", "nobody"),
		"no client":                    with("client_id", ""),
		"unregistered redirect URI":    with("redirect_uri", "http://127.0.0.1:8080/elsewhere"),
		"redirect URI, trailing slash": with("redirect_uri", callback+"/"),
		"redirect URI, localhost":      with("redirect_uri", "http://localhost:8080/callback"),
		"another app's redirect URI":   with("redirect_uri", "http://localhost:9999/cb"),
		"no redirect URI":              with("redirect_uri", ""),
	} {
		status, location, body := authorize(t, s, params)
		if status != http.StatusBadRequest || location != "" || !strings.Contains(body, "Something went wrong") {
			t.Errorf("%s: got %d, Location %q; want a 400 page and no redirect", name, status, location)
		}
	}

	repeated := authorizeParams(verifier)
	repeated.Add("scope", "dm.read")
	for name, params := range map[string]url.Values{
		"implicit grant":          with("response_type", "token"),
		"no response_type":        with("response_type", ""),
		"no scope":                with("scope", ""),
		"blank scope":             with("scope", "  "),
		"plain challenge":         with("code_challenge_method", "plain"),
		"no challenge method":     with("code_challenge_method", ""),
		"no challenge":            with("code_challenge", ""),
		"short challenge":         with("code_challenge", "abc"),
		"padded challenge":        with("code_challenge", oauth2.S256ChallengeFromVerifier(verifier)+"="),
		"repeated parameter":      repeated,
		"no state (not returned)": with("state", ""),
	} {
		status, location, _ := authorize(t, s, params)
		u, err := url.Parse(location)
		if status != http.StatusFound || err != nil || !strings.HasPrefix(location, callback+"?") {
			t.Errorf("%s: got %d to %q, want 302 back to the app", name, status, location)
			continue
		}
		q := u.Query()
		if q.Get("error") != "invalid_request" || q.Get("error_description") == "" || q.Has("code") || q.Get("state") != params.Get("state") {
			t.Errorf("%s: redirect query %v, want error=invalid_request, a description, the state and no code", name, q)
		}
	}

	resp, err := http.Post(s.URL+AuthorizePath, "application/x-www-form-urlencoded", strings.NewReader(authorizeParams(verifier).Encode()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodGet {
		t.Errorf("POST: got %d, Allow %q; want 405, Allow GET", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// A redirect URI with a query of its own keeps it.
func TestAuthorizeKeepsTheRedirectURIsQuery(t *testing.T) {
	const withQuery = "https://app.example/cb?tenant=7"
	s := NewServer(WithOAuthClient(publicID, "", withQuery))
	defer s.Close()
	params := authorizeParams(oauth2.GenerateVerifier())
	params.Set("redirect_uri", withQuery)
	_, location, _ := authorize(t, s, params)
	u, err := url.Parse(location)
	if err != nil {
		t.Fatal(err)
	}
	if u.Host != "app.example" || u.Query().Get("tenant") != "7" || !u.Query().Has("code") || u.Query().Get("state") != "state-1" {
		t.Errorf("redirected to host %q with tenant %q, code %v; want app.example, 7, a code and the state", u.Host, u.Query().Get("tenant"), u.Query().Has("code"))
	}
}

// Codes are single use, bound to their client, redirect URI and challenge, and expire after 30 s.
func TestCodeRefusals(t *testing.T) {
	clock := newClock()
	s := oauthServer(t, clock)
	verifier := oauth2.GenerateVerifier()
	fresh := func() string { return codeFor(t, s, authorizeParams(verifier)) }

	code := fresh()
	if a := postToken(t, s, codeForm(code, verifier), nil); a.status != http.StatusOK || a.str("refresh_token") == "" {
		t.Fatalf("exchange: got %d %v, want 200 with a refresh token", a.status, a.body["error"])
	}
	wantOAuthError(t, "the code again", postToken(t, s, codeForm(code, verifier), nil), 400, "invalid_grant")

	code = fresh()
	wantOAuthError(t, "wrong verifier", postToken(t, s, codeForm(code, oauth2.GenerateVerifier()), nil), 400, "invalid_grant")
	wantOAuthError(t, "right verifier after a wrong one", postToken(t, s, codeForm(code, verifier), nil), 400, "invalid_grant")

	wantOAuthError(t, "no verifier", postToken(t, s, codeForm(fresh(), ""), nil), 400, "invalid_grant")
	wantOAuthError(t, "the challenge as verifier", postToken(t, s, codeForm(fresh(), oauth2.S256ChallengeFromVerifier(verifier)), nil), 400, "invalid_grant")
	wrongRedirect := codeForm(fresh(), verifier)
	wrongRedirect.Set("redirect_uri", "http://localhost:9999/cb")
	wantOAuthError(t, "another redirect URI", postToken(t, s, wrongRedirect, nil), 400, "invalid_grant")
	noRedirect := codeForm(fresh(), verifier)
	noRedirect.Del("redirect_uri")
	wantOAuthError(t, "no redirect URI", postToken(t, s, noRedirect, nil), 400, "invalid_grant")
	wantOAuthError(t, "an unknown code", postToken(t, s, codeForm("not-a-code", verifier), nil), 400, "invalid_grant")
	wantOAuthError(t, "no code", postToken(t, s, codeForm("", verifier), nil), 400, "invalid_request")

	// Another client cannot use the code, nor use it up.
	code = fresh()
	stolen := codeForm(code, verifier)
	stolen.Del("client_id")
	wantOAuthError(t, "another client's code", postToken(t, s, stolen, url.UserPassword(confidential, appSecret)), 400, "invalid_grant")
	if a := postToken(t, s, codeForm(code, verifier), nil); a.status != http.StatusOK {
		t.Errorf("the code's own client after another's attempt: got %d, want 200", a.status)
	}

	code = fresh()
	clock.Advance(codeLifetime - time.Nanosecond)
	if a := postToken(t, s, codeForm(code, verifier), nil); a.status != http.StatusOK {
		t.Errorf("a code just before it expires: got %d, want 200", a.status)
	}
	code = fresh()
	clock.Advance(codeLifetime)
	wantOAuthError(t, "an expired code", postToken(t, s, codeForm(code, verifier), nil), 400, "invalid_grant")

	// Without offline.access there is no refresh token.
	params := authorizeParams(verifier)
	params.Set("scope", "dm.write  users.read")
	a := postToken(t, s, codeForm(codeFor(t, s, params), verifier), nil)
	if a.status != http.StatusOK || a.str("refresh_token") != "" || a.str("scope") != "dm.write users.read" {
		t.Errorf("without offline.access: got %d, refresh token %v, scope %q; want 200, none, the scopes asked", a.status, a.str("refresh_token") != "", a.str("scope"))
	}
	if s.RefreshRequests() != 0 {
		t.Errorf("RefreshRequests = %d, want 0: no refresh_token grant was asked for", s.RefreshRequests())
	}
}

// The authorize endpoint grants only X's scope names: a scope of anything else, of any size, goes back to
// the app with error=invalid_scope and no code, so that no code or refresh grant keeps it: else each such
// login would keep up to a megabyte for good.
func TestAuthorizeRefusesAScopeOfUnknownNamesOfAnySize(t *testing.T) {
	s := oauthServer(t, newClock())
	verifier := oauth2.GenerateVerifier()
	word := strings.Repeat("a", 63) + " "
	huge := strings.Repeat(word, (900<<10)/len(word)) + "offline.access"
	for name, scope := range map[string]string{
		"a 900 KB scope":            huge,
		"one unknown name":          "users.read dm.read.all offline.access",
		"a known name's other case": "Users.Read",
		"a name run together":       "users.readdm.write",
		"known names, over 1 KiB":   strings.Repeat("users.read ", 100),
	} {
		params := authorizeParams(verifier)
		params.Set("scope", scope)
		status, location, _ := authorize(t, s, params)
		u, err := url.Parse(location)
		if status != http.StatusFound || err != nil || !strings.HasPrefix(location, callback+"?") {
			t.Errorf("%s: got %d to %.200q, want 302 back to the app", name, status, location)
			continue
		}
		q := u.Query()
		if q.Get("error") != "invalid_scope" || q.Has("code") || q.Get("state") != params.Get("state") ||
			q.Get("error_description") == "" || len(location) > 1024 {
			t.Errorf("%s: redirect query %.300v (%d bytes), want error=invalid_scope, a short description, the state and no code", name, q, len(location))
		}
	}
}

// Known names asked for more than once are granted once, so what a grant keeps stays bounded.
func TestAuthorizeGrantsARepeatedScopeOnce(t *testing.T) {
	s := oauthServer(t, newClock())
	verifier := oauth2.GenerateVerifier()
	params := authorizeParams(verifier)
	params.Set("scope", "dm.write users.read dm.write offline.access users.read")
	a := postToken(t, s, codeForm(codeFor(t, s, params), verifier), nil)
	if a.status != http.StatusOK || a.str("scope") != "dm.write users.read offline.access" {
		t.Errorf("got %d, scope %q; want 200 and each scope once, in the order first asked", a.status, a.str("scope"))
	}
	tok, err := s.IssueToken(publicID, "users.read", "offline.access", "users.read")
	if err != nil {
		t.Fatal(err)
	}
	if tok.Extra("scope") != "users.read offline.access" {
		t.Errorf("IssueToken: scope %v, want users.read offline.access", tok.Extra("scope"))
	}
}
