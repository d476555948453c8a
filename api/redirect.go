package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// ErrRedirect is the errors.Is target for a redirect the client refuses to follow: one that would turn
// the POST into a GET or drop its body (301, 302, 303), so that X would never see the mark, and one to
// another origin (scheme, host or port), which would get the mark without the credentials. Such an answer
// is an error, never a success, whatever the redirect's target says. A 307 or 308 on the same origin is
// followed.
var ErrRedirect = errors.New("redirect refused")

// redirectError names the redirect's status and where it pointed, as an origin only: the target's path,
// query or user info may carry credentials and are not shown.
type redirectError struct {
	status      int
	origin      string
	crossOrigin bool
}

func (e *redirectError) Error() string {
	why := "would resend the request without its body or as another method"
	if e.crossOrigin {
		why = "leads to another origin, which would get the request without its credentials"
	}
	return fmt.Sprintf("%v: HTTP %d %s to %s %s; use the base URL the redirect points to",
		ErrRedirect, e.status, http.StatusText(e.status), e.origin, why)
}

func (e *redirectError) Unwrap() error { return ErrRedirect }

// originOf is scheme://host[:port] of u, without user info.
func originOf(u *url.URL) string {
	return (&url.URL{Scheme: u.Scheme, Host: u.Host}).String()
}

// redirectPolicy wraps a client's redirect policy. It refuses a redirect that changes the method, drops
// the body, or leaves the origin (the standard library would follow the last without the token when the
// host name changes, but with it when only the port or scheme does).
func redirectPolicy(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		first := via[0]
		status := 0
		if req.Response != nil {
			status = req.Response.StatusCode
		}
		if req.Method != first.Method || (first.GetBody != nil && req.GetBody == nil) {
			return &redirectError{status: status, origin: originOf(req.URL)}
		}
		if req.URL.Scheme != first.URL.Scheme || req.URL.Host != first.URL.Host {
			req.Header.Del("Authorization") // if a policy of the caller's below wanted to follow anyway
			return &redirectError{status: status, origin: originOf(req.URL), crossOrigin: true}
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
