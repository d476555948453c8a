package apitest

import (
	"net/http"
	"strings"
	"time"
)

// OAuthUser is the user every token issued through the OAuth 2.0 endpoints belongs to: the fake user who
// approves every authorization request at once. Its read state and rate-limit window are shared by all
// its tokens, the refreshed ones included.
const OAuthUser = "apitest-user"

// bearer is what the server knows of a bearer token it accepts.
type bearer struct {
	user   string
	expiry time.Time // zero: never expires (WithTokens)
}

// userOf returns the user token belongs to, whether or not it is still valid. Call with h.mu held.
func (h *Handler) userOf(token string) (user string, known bool) {
	if b, ok := h.tokens[token]; ok {
		return b.user, true
	}
	if _, ok := h.oauth1Tokens[token]; ok {
		return token, true
	}
	return "", false
}

// presentedToken returns the token a request presents in its Authorization header, a bearer token or an
// OAuth 1.0a access token, for the rate-limit headers of its answer ("" when there is none).
func presentedToken(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	switch {
	case ok && strings.EqualFold(scheme, "Bearer"):
		return strings.TrimSpace(token)
	case ok && strings.EqualFold(scheme, "OAuth"):
		params, err := oauth1HeaderParams(r.Header.Get("Authorization"))
		if err != nil {
			return ""
		}
		return params["oauth_token"]
	}
	return ""
}

// authenticate returns the user a request acts for, or false when its credentials are missing, unknown
// or expired. raw is the request's body.
func (h *Handler) authenticate(r *http.Request, raw []byte) (user string, ok bool) {
	if scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " "); strings.EqualFold(scheme, "OAuth") {
		user, err := h.checkOAuth1(r, raw)
		return user, err == nil
	}
	token := presentedToken(r)
	h.mu.Lock()
	defer h.mu.Unlock()
	b, known := h.tokens[token]
	if !known || (!b.expiry.IsZero() && !h.now().Before(b.expiry)) {
		return "", false
	}
	return b.user, true
}
