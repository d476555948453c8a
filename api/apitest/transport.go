package apitest

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
)

// Transport returns an http.RoundTripper that serves every request with h in the calling goroutine, with
// no socket at all. Hand it to api.WithHTTPClient to run a client, or a bot's Marker, against the fake
// inside a testing/synctest bubble, where time is fake and a real network connection would not be:
//
//	h := apitest.NewHandler()
//	client, err := api.NewClient(api.WithBaseURL("http://127.0.0.1"), api.WithToken(apitest.DefaultToken),
//		api.WithHTTPClient(&http.Client{Transport: h.Transport()}))
//
// The request's host is ignored; a loopback base URL passes the client's https check. A dropped
// connection (DropNext, DropNextAfterApply) is a transport error.
func (h *Handler) Transport() http.RoundTripper { return InProcess(h) }

// InProcess returns an http.RoundTripper that serves every request with handler in the calling goroutine,
// as Transport does for the fake X: for a test's own scripted server inside a synctest bubble. A handler
// that panics with http.ErrAbortHandler (or hijacks, which a recorder cannot) gives a transport error.
func InProcess(handler http.Handler) http.RoundTripper { return inProcess{handler} }

type inProcess struct{ h http.Handler }

// errDropped is what a client sees when the in-process server drops its connection.
var errDropped = errors.New("apitest: the server closed the connection without answering")

func (t inProcess) RoundTrip(req *http.Request) (resp *http.Response, err error) {
	// A server request, as net/http's server would build it from the client's.
	in := req.Clone(req.Context())
	in.RequestURI = req.URL.RequestURI()
	in.RemoteAddr = "127.0.0.1:1"
	if in.Body == nil {
		in.Body = http.NoBody
	}
	defer func() {
		if req.Body != nil {
			_ = req.Body.Close() // a RoundTripper always closes the request body
		}
		if r := recover(); r != nil {
			if r != http.ErrAbortHandler {
				panic(r)
			}
			resp, err = nil, errDropped
		}
	}()
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, in)
	if err := req.Context().Err(); err != nil {
		// The handler gave up on a client that went away; so does a real transport.
		return nil, fmt.Errorf("apitest: %w", err)
	}
	resp = rec.Result()
	resp.Request = req
	return resp, nil
}
