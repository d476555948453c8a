package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// roundTripFunc lets a test answer requests without a network.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// FuzzResponseHandling feeds arbitrary status codes, headers and bodies through the client's response
// handling. It must never panic, and every call must end in exactly one of a result or an error.
// Seeds live in testdata/fuzz/FuzzResponseHandling.
func FuzzResponseHandling(f *testing.F) {
	f.Add(200, "Content-Type: application/json", []byte(successBody))
	f.Add(200, "Content-Type: application/json", []byte(`{"data":{"success":true},"errors":[{"type":1,"title":null}]}`))
	f.Add(429, "X-Rate-Limit-Reset: 99999999999999999999\nRetry-After: -1", []byte(`{"errors":[{"code":88,"message":"Rate limit exceeded"}]}`))
	f.Add(403, "Content-Type: application/problem+json; charset=utf-8", []byte(`{"type":"about:blank","title":"x","extra":{"a":[1,2]}}`))
	f.Add(502, "Content-Type: text/html", []byte("<html>\x00\xff\xfe</html>"))
	f.Add(400, "", []byte(`{"errors":"not a list","code":"x"}`))
	f.Fuzz(func(t *testing.T, status int, headers string, body []byte) {
		if status < 100 || status > 999 {
			status = 200 + (status%800+800)%800
		}
		header := http.Header{}
		for line := range strings.SplitSeq(headers, "\n") {
			if name, value, ok := strings.Cut(line, ":"); ok {
				header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
			}
		}
		transport := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: status, Header: header, Body: io.NopCloser(bytes.NewReader(body)), Request: r}, nil
		})
		c, err := NewClient(WithToken(testToken), WithMaxRetries(0), WithHTTPClient(&http.Client{Transport: transport}),
			WithMaxResponseBytes(4096))
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.MarkConversationRead(context.Background(), "1", "2")
		if (res == nil) == (err == nil) {
			t.Fatalf("status %d: got result %v and error %v; want exactly one", status, res, err)
		}
		if res != nil && !res.Success {
			t.Fatalf("status %d: result without success", status)
		}
		if res != nil && status != http.StatusOK {
			t.Fatalf("status %d: a non-200 answer became a result", status)
		}
		var apiErr *APIError
		var urlErr *url.Error // a redirect loop, say: the fuzzer can answer 3xx with a Location
		if err != nil && !errors.As(err, &apiErr) && !errors.As(err, &urlErr) && !errors.Is(err, ErrResponseTooLarge) &&
			!errors.Is(err, ErrRedirect) {
			t.Fatalf("status %d: untyped error %v", status, err)
		}
		if err != nil && strings.ContainsAny(err.Error(), "\r\n\x1b") {
			t.Fatalf("status %d: error %q is not one line", status, err)
		}
		if err != nil && strings.Contains(err.Error(), testToken) {
			t.Fatal("error carries the token")
		}
		if apiErr != nil {
			_ = apiErr.RetryAt()
		}
	})
}
