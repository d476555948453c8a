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
	return "", false
}

// presentedToken returns the token a request presents in its Authorization header, for the rate-limit
// headers of its answer ("" when there is none).
func presentedToken(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// authenticate returns the user a request acts for, or false when its credentials are missing, unknown
// or expired. raw is the request's body.
func (h *Handler) authenticate(r *http.Request, raw []byte) (user string, ok bool) {
	token := presentedToken(r)
	h.mu.Lock()
	defer h.mu.Unlock()
	b, known := h.tokens[token]
	if !known || (!b.expiry.IsZero() && !h.now().Before(b.expiry)) {
		return "", false
	}
	return b.user, true
}
