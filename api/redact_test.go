package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/xchat-go/markread/api/apitest"
)

// everyVerb prints v with every fmt verb a careless log line might use.
func everyVerb(v any) string {
	var b strings.Builder
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
		fmt.Fprintf(&b, verb+"\n", v)
	}
	return b.String()
}

// leaks reports whether text shows token in any form a reader could recover without effort: as is,
// hex-encoded (what %x of a string prints), or JSON-escaped.
func leaks(text, token string) bool {
	return strings.Contains(text, token) ||
		strings.Contains(strings.ToLower(text), fmt.Sprintf("%x", token)) ||
		strings.Contains(text, escapeJSON(token))
}

// nested is a problem member a hostile server fills with the token at every depth, keys included, in
// JSON-escaped form.
func nested(token string) string {
	e := escapeJSON(token)
	return `{"` + e + `":["` + e + `",{"deep":{"deeper":["x","` + e + `"]}}],"n":1}`
}

func TestPartialSuccessProblemsAreScrubbed(t *testing.T) {
	e := escapeJSON(testToken)
	body := `{"data":{"success":true},"errors":[{"type":"about:blank","title":"t","detail":"echo ` + e +
		`","object":` + nested(testToken) + `,"array":["` + e + `"],"` + e + `":true},"` + e + `"]}`
	c := setup(t, reply(200, "application/json", body))
	res, err := c.MarkConversationRead(context.Background(), "1", "2")
	if err != nil || !res.Success || len(res.Problems) != 2 {
		t.Fatalf("got %+v, %v; want a partial success with 2 problems", res, err)
	}
	encoded, _ := json.Marshal(res.Problems)
	text := everyVerb(res) + everyVerb(res.Problems) + string(encoded)
	if leaks(text, testToken) {
		t.Error("the partial success's problems carry the access token")
	}
	if !strings.Contains(res.Problems[0].Detail, redacted) || !strings.Contains(string(res.Problems[0].Extra["object"]), redacted) {
		t.Errorf("problem = %+v; want the token replaced by %s, the rest kept", res.Problems[0], redacted)
	}
}

func TestFailureProblemsAreScrubbedAtAnyDepth(t *testing.T) {
	body := `{"type":"about:blank","title":"Forbidden","status":403,"reason":` + nested(testToken) +
		`,"errors":[{"message":"m","list":[[["` + escapeJSON(testToken) + `"]]]}]}`
	c := setup(t, reply(403, "application/problem+json", body), WithMaxRetries(0))
	_, err := c.MarkConversationRead(context.Background(), "1", "2")
	var apiErr *APIError
	if !errors.As(err, &apiErr) || len(apiErr.Problems) != 2 {
		t.Fatalf("err = %v; want an *APIError with 2 problems", err)
	}
	encoded, _ := json.Marshal(apiErr.Problems)
	if text := everyVerb(err) + everyVerb(apiErr) + everyVerb(*apiErr) + string(encoded); leaks(text, testToken) {
		t.Error("the error or its problems carry the access token")
	}
}

func TestEchoedHeadersAreScrubbed(t *testing.T) {
	c := setup(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Echo", r.Header.Get("Authorization"))
		w.Header().Set("X-"+testToken, "name")
		reply(200, "application/json", successBody)(w, r)
	})
	res, err := c.MarkConversationRead(context.Background(), "1", "2")
	if err != nil {
		t.Fatal(err)
	}
	if leaks(everyVerb(res.Header)+everyVerb(res), testToken) {
		t.Error("the result's header carries the access token")
	}
	if got := res.Header.Get("X-Echo"); got != "Bearer "+redacted {
		t.Errorf("X-Echo = %q, want the token replaced", got)
	}
}

func TestEscapedEchoInAnUndecodableBodyIsWithheld(t *testing.T) {
	c := setup(t, reply(502, "text/html", `<p>\u0074`+escapeJSON(testToken)[6:]+`</p>`), WithMaxRetries(0))
	_, err := c.MarkConversationRead(context.Background(), "1", "2")
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(apiErr.Body, "withheld") || leaks(everyVerb(err), testToken) {
		t.Errorf("Body = %q; want it withheld", apiErr.Body)
	}
}

// TestFormattingAClientNeverShowsTheToken: whatever the verb, a Client, a *Client, and structs holding
// either (in exported and unexported fields) print without the token.
func TestFormattingAClientNeverShowsTheToken(t *testing.T) {
	for name, opt := range map[string]Option{
		"static token": WithToken(testToken),
		"token source": WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: testToken})),
	} {
		t.Run(name, func(t *testing.T) {
			c, err := NewClient(opt)
			if err != nil {
				t.Fatal(err)
			}
			type exported struct{ C Client }
			type unexported struct{ c Client }
			type pointers struct {
				c *Client
				C *Client
			}
			for what, v := range map[string]any{
				"Client": *c, "*Client": c, "exported field": exported{*c}, "unexported field": unexported{*c},
				"pointer to holder": &unexported{*c}, "pointer fields": pointers{c, c}, "option": opt,
			} {
				if leaks(everyVerb(v), testToken) {
					t.Errorf("%s: a fmt verb prints the token", what)
				}
			}
		})
	}
}

// oddTypeSource hands out a token whose type holds a space: what is scrubbed must be the token itself.
type oddTypeSource struct{}

func (oddTypeSource) Token() (*oauth2.Token, error) {
	return &oauth2.Token{AccessToken: testToken, TokenType: "Bearer extra"}, nil
}

func TestTheTokenIsScrubbedWhateverItsType(t *testing.T) {
	c := setup(t, func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Authorization"); got != "Bearer "+testToken {
			t.Errorf("Authorization is not the bearer token")
		}
		reply(401, "application/problem+json", `{"type":"about:blank","title":"Unauthorized","detail":"`+r.Header.Get("Authorization")+`"}`)(w, r)
	}, WithTokenSource(oddTypeSource{}))
	_, err := c.MarkConversationRead(context.Background(), "1", "2")
	if err == nil || leaks(everyVerb(err), testToken) {
		t.Errorf("err = %v; want a 401 without the token", err)
	}
}

// sealedSource is a caller's own token source whose error quotes the secret it holds.
type sealedSource struct {
	secret string
	cause  error
}

var errSealed = errors.New("sealed")

func (s sealedSource) Token() (*oauth2.Token, error) {
	return nil, fmt.Errorf("vault entry %s: %w", s.secret, s.cause)
}

// TestATokenSourceErrorShowsNothingTheTokenEndpointEchoes: a Client with a token source that is not
// markread's own shows none of its error's text but a token endpoint's status and error code, since
// x/oauth2 quotes an answer it cannot parse whole, and a URL it was redirected to as it is; the error
// stays reachable with errors.As.
func TestATokenSourceErrorShowsNothingTheTokenEndpointEchoes(t *testing.T) {
	const refreshToken = "echoed-refresh-token-5c2e9a0d"
	var urlErr *url.Error
	cases := []struct {
		name     string
		endpoint http.HandlerFunc // x/oauth2's refreshing source's token endpoint, if any
		source   oauth2.TokenSource
		want     string
		cause    func(error) bool
	}{
		{name: "an unparsable answer", endpoint: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"access_token":"new-access-token-0123","expires_in":"%s"}`, r.PostFormValue("refresh_token"))
		}, want: "token source: it failed"},
		{name: "a redirect's target", endpoint: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://echo.invalid/?rt="+r.PostFormValue("refresh_token"), http.StatusTemporaryRedirect)
		}, want: "token source: its request to http://echo.invalid failed", cause: func(err error) bool { return errors.As(err, &urlErr) }},
		{name: "a source of the caller's own", source: sealedSource{refreshToken, errSealed},
			want: "token source: it failed;", cause: func(err error) bool { return errors.Is(err, errSealed) }},
		{name: "a source that timed out", source: sealedSource{refreshToken, context.DeadlineExceeded},
			want: "token source: it failed (timed out)", cause: func(err error) bool { return errors.Is(err, context.DeadlineExceeded) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := c.source
			if c.endpoint != nil {
				endpoint := apitest.InProcess(c.endpoint)
				transport := roundTripFunc(func(r *http.Request) (*http.Response, error) {
					if r.URL.Host == "echo.invalid" {
						return nil, errors.New("no such host")
					}
					return endpoint.RoundTrip(r)
				})
				ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: transport})
				conf := &oauth2.Config{ClientID: "app", Endpoint: oauth2.Endpoint{TokenURL: "http://127.0.0.1/token", AuthStyle: oauth2.AuthStyleInParams}}
				src = conf.TokenSource(ctx, &oauth2.Token{AccessToken: "old", RefreshToken: refreshToken, Expiry: time.Now().Add(-time.Hour)})
			}
			client := setup(t, func(http.ResponseWriter, *http.Request) { t.Error("a request was sent without a token") },
				WithTokenSource(src))
			_, err := client.MarkConversationRead(context.Background(), "1", "2")
			if !errors.Is(err, ErrNoToken) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %q, want ErrNoToken saying %q", strings.ReplaceAll(fmt.Sprint(err), refreshToken, "[SECRET]"), c.want)
			}
			if leaks(everyVerb(err), refreshToken) {
				t.Error("the error shows the refresh token")
			}
			if c.cause != nil && !c.cause(err) {
				t.Error("the source's error is not reachable with errors.Is/As")
			}
		})
	}
}

func TestBaseURLErrorsNameTheProblemWithoutTheInput(t *testing.T) {
	const secret = "hunter2secret"
	tests := []struct{ url, want string }{
		{"https:u:" + secret + "@api.x.com", "user info"},
		{"u:" + secret + "@api.x.com", "user info"},
		{"https://bot:" + secret + "@api.x.com", "user info"},
		{"https://bot:" + secret + "@api.x.com/%zz", "does not parse"},
		{"https://api.x.com/?access_token=" + secret, "query"},
		{"https://api.x.com/?" + secret, "query"},
		{"https://api.x.com/#" + secret, "fragment"},
		{"ftp://" + secret + ".example.com", "scheme"},
		{"http://" + secret + ".example.com", "https unless its host is loopback"},
		{"https:///" + secret, "no host"},
		{"//" + secret + "/x", "scheme"},
		{secret, "scheme"},
		{"https://api.x.com/\x00" + secret, "does not parse"},
	}
	for _, tt := range tests {
		_, err := NewClient(WithToken("t"), WithBaseURL(tt.url))
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), secret) ||
			strings.Contains(fmt.Sprintf("%+v %#v", err, err), secret) {
			t.Errorf("WithBaseURL(<%d bytes>): err = %v; want one naming %q without the input", len(tt.url), err, tt.want)
		}
	}
}

// TestServerTextStaysOnOneLine: line breaks, ANSI escapes and bidi overrides a server puts in its
// problems come out escaped in Error(), and as received on the typed values.
func TestServerTextStaysOnOneLine(t *testing.T) {
	detail := "bad\nmarkread: forged line\r\x1b[31mred\x1b[0m \u202egnp.exe"
	body, _ := json.Marshal(map[string]any{"type": "about:blank", "title": "t\x07", "detail": detail})
	c := setup(t, reply(400, "application/problem+json", string(body)), WithMaxRetries(0))
	_, err := c.MarkConversationRead(context.Background(), "1", "2")
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("err = %v", err)
	}
	text := err.Error()
	if strings.ContainsAny(text, "\n\r\x1b\x07\u202e") {
		t.Errorf("Error() = %q, want control characters escaped", text)
	}
	if !strings.Contains(text, `bad\nmarkread: forged line\r\x1b[31mred`) || !strings.Contains(text, `\u202e`) {
		t.Errorf("Error() = %q, want the escapes shown", text)
	}
	if apiErr.Problems[0].Detail != detail {
		t.Errorf("Detail = %q, want it as received", apiErr.Problems[0].Detail)
	}
}

// TestARedirectThatDropsTheBodyIsAnError: 301, 302 and 303 would turn the POST into a bodiless GET; the
// answer to that GET must never count as the mark.
func TestARedirectThatDropsTheBodyIsAnError(t *testing.T) {
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			var targetRequests int
			target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				targetRequests++
				reply(200, "application/json", successBody)(w, r)
			}))
			defer target.Close()
			location := strings.Replace(target.URL, "http://", "http://user:pw-"+testToken+"@", 1) + "/moved?key=query-secret"
			c := setup(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Location", location)
				w.WriteHeader(status)
			})
			res, err := c.MarkConversationRead(context.Background(), "1", "2")
			if res != nil || !errors.Is(err, ErrRedirect) {
				t.Fatalf("got %+v, %v; want ErrRedirect", res, err)
			}
			text := everyVerb(err)
			if !strings.Contains(err.Error(), fmt.Sprint(status)) || !strings.Contains(err.Error(), target.URL) {
				t.Errorf("err = %v; want the status and the target's origin", err)
			}
			if strings.Contains(text, "pw-") || strings.Contains(text, "query-secret") || strings.Contains(text, "/moved") || leaks(text, testToken) {
				t.Errorf("err = %v; shows more of the target than its origin", err)
			}
			if targetRequests != 0 {
				t.Errorf("the target got %d requests, want none", targetRequests)
			}
		})
	}
}

func TestSameOriginTemporaryRedirectKeepsTheMark(t *testing.T) {
	for _, status := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		var gotAuth, gotBody string
		mux := http.NewServeMux()
		mux.HandleFunc("/old/", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/new/"+strings.TrimPrefix(r.URL.Path, "/old/"), status)
		})
		mux.HandleFunc("POST /new/", func(w http.ResponseWriter, r *http.Request) {
			gotAuth = r.Header.Get("Authorization")
			b := new(strings.Builder)
			_, _ = fmt.Fprint(b, r.ContentLength)
			gotBody = b.String()
			reply(200, "application/json", successBody)(w, r)
		})
		srv := httptest.NewServer(mux)
		c, err := NewClient(WithBaseURL(srv.URL+"/old"), WithToken(testToken))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.MarkConversationRead(context.Background(), "1", "2"); err != nil {
			t.Errorf("%d: %v", status, err)
		}
		if gotAuth != "Bearer "+testToken || gotBody == "0" {
			t.Errorf("%d: the redirected request lost its token or body (content length %s)", status, gotBody)
		}
		srv.Close()
	}
}
