package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// originOf is scheme://host[:port] of u, without user info.
func originOf(u *url.URL) string {
	return (&url.URL{Scheme: u.Scheme, Host: u.Host}).String()
}

// redirectPolicy wraps a client's redirect policy. It refuses (ErrRedirect) a redirect that changes the
// method, drops the body, or leaves the origin: the standard library follows the last without the token
// when the host name changes, but with it when only the port or scheme does. Errors name the target's
// origin only: its path and query are the server's to fill.
func redirectPolicy(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		first := via[0]
		status := 0
		if req.Response != nil {
			status = req.Response.StatusCode
		}
		if req.Method != first.Method || (first.GetBody != nil && req.GetBody == nil) {
			return fmt.Errorf("%w: HTTP %d to %s would resend the mark without its body or as another method",
				ErrRedirect, status, originOf(req.URL))
		}
		if req.URL.Scheme != first.URL.Scheme || req.URL.Host != first.URL.Host {
			req.Header.Del("Authorization") // in case a policy of the caller's below would follow anyway
			return fmt.Errorf("%w: HTTP %d to %s, another origin, which must not get the credentials; use the base URL it points to",
				ErrRedirect, status, originOf(req.URL))
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
