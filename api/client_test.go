package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/oauth2"

	"github.com/xchat-go/markread/api/apitest"
)

const (
	testToken  = "test-access-token-0123456789"
	basePrefix = "/prefix"
)

// reply answers with status, content type and body.
func reply(status int, contentType, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

const successBody = `{"data":{"success":true}}`

func TestMarkConversationReadSendsTheRequestXExpects(t *testing.T) {
	for _, suffix := range []string{"", "/"} {
		t.Run("base"+suffix, func(t *testing.T) {
			var calls atomic.Int32
			handler := func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				if r.Method != http.MethodPost {
					t.Errorf("method = %s, want POST", r.Method)
				}
				if want := basePrefix + "/2/chat/conversations/g1940387460021112832/read"; r.URL.Path != want {
					t.Errorf("path = %q, want %q", r.URL.Path, want)
				}
				if r.URL.RawQuery != "" {
					t.Errorf("query = %q, want none", r.URL.RawQuery)
				}
				if got := r.Header.Get("Content-Type"); got != "application/json" {
					t.Errorf("Content-Type = %q, want application/json", got)
				}
				if got := r.Header.Get("Authorization"); got != "Bearer "+testToken {
					t.Errorf("Authorization header is not the bearer token")
				}
				if got := r.Header.Get("User-Agent"); !strings.HasPrefix(got, "markread-go/") {
					t.Errorf("User-Agent = %q, want markread-go/…", got)
				}
				body, _ := io.ReadAll(r.Body)
				if string(body) != `{"seen_until_sequence_id":"1940387512345678901"}` {
					t.Errorf("body = %s", body)
				}
				reply(200, "application/json", successBody)(w, r)
			}
			srv := httptest.NewServer(http.HandlerFunc(handler))
			defer srv.Close()
			c, err := NewClient(WithBaseURL(srv.URL+basePrefix+suffix), WithToken(testToken))
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.MarkConversationRead(context.Background(), "g1940387460021112832", "1940387512345678901")
			if err != nil {
				t.Fatalf("MarkConversationRead: %v", err)
			}
			if !res.Success || res.Attempts != 1 || len(res.Problems) != 0 {
				t.Errorf("result = %+v, want success in 1 attempt with no problems", res)
			}
			if calls.Load() != 1 {
				t.Errorf("server saw %d requests, want 1", calls.Load())
			}
		})
	}
}

func TestUserAgentOption(t *testing.T) {
	c := setup(t, func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("User-Agent"); got != "mybot/2.0" {
			t.Errorf("User-Agent = %q", got)
		}
		reply(200, "application/json", successBody)(w, r)
	}, WithUserAgent("mybot/2.0"))
	if _, err := c.MarkConversationRead(context.Background(), "1", "2"); err != nil {
		t.Fatal(err)
	}
}

// countingSource hands out a new token on every call, as a refreshing source does: tok-1, tok-2, …, or
// with mod set, tok-1 to tok-<mod> in turn.
type countingSource struct {
	n   atomic.Int32
	mod int32
}

func (s *countingSource) Token() (*oauth2.Token, error) {
	n := s.n.Add(1)
	if s.mod > 0 {
		n = (n-1)%s.mod + 1
	}
	return &oauth2.Token{AccessToken: "tok-" + strconv.Itoa(int(n)), TokenType: "bearer"}, nil
}

// newFake starts apitest's fake X, accepting tokens, and returns it with a client configured by opts.
func newFake(t *testing.T, tokens []string, opts ...Option) (*apitest.Server, *Client) {
	t.Helper()
	srv := apitest.NewServer(apitest.WithTokens(tokens...))
	t.Cleanup(srv.Close)
	c, err := NewClient(append([]Option{WithBaseURL(srv.URL), WithBackoff(time.Millisecond, 4*time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

func TestTokenSourceIsAskedOnEveryCall(t *testing.T) {
	srv, c := newFake(t, []string{"tok-1", "tok-2", "tok-3"}, WithTokenSource(&countingSource{}))
	for range 3 {
		if _, err := c.MarkConversationRead(context.Background(), "1-2", "5"); err != nil {
			t.Fatal(err)
		}
	}
	var tokens []string
	for _, m := range srv.Marks() {
		tokens = append(tokens, m.Token)
	}
	if want := []string{"tok-1", "tok-2", "tok-3"}; fmt.Sprint(tokens) != fmt.Sprint(want) {
		t.Errorf("the marks came with tokens %v, want %v", tokens, want)
	}
}

type failingSource struct{ calls atomic.Int32 }

func (s *failingSource) Token() (*oauth2.Token, error) {
	s.calls.Add(1)
	return nil, &oauth2.RetrieveError{Response: &http.Response{StatusCode: http.StatusBadRequest}, ErrorCode: "invalid_grant"}
}

func TestTokenSourceFailureSendsNothing(t *testing.T) {
	src := &failingSource{}
	srv, c := newFake(t, nil, WithTokenSource(src))
	_, err := c.MarkConversationRead(context.Background(), "1", "2")
	if !errors.Is(err, ErrNoToken) || !strings.Contains(err.Error(), "invalid_grant") || strings.Contains(err.Error(), "attempt") {
		t.Fatalf("err = %v, want ErrNoToken wrapping the source's error, and no attempt counted", err)
	}
	if srv.Requests() != 0 {
		t.Errorf("server saw %d requests after a token failure, want 0", srv.Requests())
	}
	if src.calls.Load() != 1 {
		t.Errorf("token source asked %d times, want 1 (a token failure is not retried)", src.calls.Load())
	}
}

// badSource hands out a token that is not an RFC 6750 bearer token.
type badSource struct{}

func (badSource) Token() (*oauth2.Token, error) { return &oauth2.Token{AccessToken: "abc\r\n"}, nil }

func TestTokenWithControlCharactersIsNotSentNorRetried(t *testing.T) {
	srv, c := newFake(t, nil, WithTokenSource(badSource{}))
	_, err := c.MarkConversationRead(context.Background(), "1", "2")
	if !errors.Is(err, ErrNoToken) || !strings.Contains(err.Error(), "RFC 6750") || strings.Contains(err.Error(), "abc") {
		t.Fatalf("err = %v, want ErrNoToken naming the bad characters", err)
	}
	if srv.Requests() != 0 {
		t.Errorf("server saw %d requests", srv.Requests())
	}
}

func TestInvalidInputSendsNothingAndAsksNoToken(t *testing.T) {
	src := &countingSource{}
	srv, c := newFake(t, nil, WithTokenSource(src))
	for _, tc := range []struct {
		id, seq string
		want    error
	}{
		{"1/2", "5", ErrInvalidConversationID},
		{"", "5", ErrInvalidConversationID},
		{"G1", "5", ErrInvalidConversationID},
		{"1", "", ErrInvalidSequenceID},
		{"1", "5a", ErrInvalidSequenceID},
		{"1", "-5", ErrInvalidSequenceID},
		{"1", "g1940387460021112832", ErrInvalidSequenceID},
		{"1", "\u0661", ErrInvalidSequenceID},
	} {
		_, err := c.MarkConversationRead(context.Background(), tc.id, tc.seq)
		if !errors.Is(err, tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("MarkConversationRead(%q, %q) = %v, want %v on one line", tc.id, tc.seq, err, tc.want)
		}
	}
	if srv.Requests() != 0 || src.n.Load() != 0 {
		t.Errorf("invalid input reached the server %d times and the token source %d times, want 0 and 0",
			srv.Requests(), src.n.Load())
	}
}

func TestOutcomes(t *testing.T) {
	reset := time.Now().Add(15 * time.Minute).Truncate(time.Second)
	rateHeaders := func(h http.Header, remaining int) {
		h.Set("x-rate-limit-limit", "50")
		h.Set("x-rate-limit-remaining", strconv.Itoa(remaining))
		h.Set("x-rate-limit-reset", strconv.FormatInt(reset.Unix(), 10))
	}
	tests := []struct {
		name       string
		status     int
		ctype      string
		body       string
		wantErr    bool
		wantStatus int
		wantProbs  []string // Problem.String() of each
		wantBody   string   // substring of APIError.Body
		rateLimit  bool
	}{
		{name: "success", status: 200, ctype: "application/json", body: successBody},
		{name: "partial success", status: 200, ctype: "application/json",
			body:      `{"data":{"success":true},"errors":[{"type":"https://api.x.com/2/problems/resource-unavailable","title":"Resource Unavailable","detail":"a message was deleted","resource_type":"message"}]}`,
			wantProbs: []string{"a message was deleted (https://api.x.com/2/problems/resource-unavailable)"}},
		{name: "success false", status: 200, ctype: "application/json", body: `{"data":{"success":false}}`,
			wantErr: true, wantStatus: 200},
		{name: "errors only", status: 200, ctype: "application/json",
			body:    `{"errors":[{"type":"https://api.x.com/2/problems/resource-not-found","title":"Not Found Error","detail":"Could not find conversation","resource_type":"conversation","resource_id":"g1","parameter":"id","value":"g1"}]}`,
			wantErr: true, wantStatus: 200, wantProbs: []string{"Could not find conversation (https://api.x.com/2/problems/resource-not-found)"}},
		{name: "200 not JSON", status: 200, ctype: "text/html", body: "<html>captive portal</html>",
			wantErr: true, wantStatus: 200, wantBody: "<html>captive portal</html>"},
		{name: "problem+json with charset", status: 403, ctype: "application/problem+json; charset=utf-8",
			body:    `{"type":"https://api.x.com/2/problems/client-forbidden","title":"Client Forbidden","detail":"app not attached to a project","reason":"client-not-enrolled","registration_url":"https://developer.x.com"}`,
			wantErr: true, wantStatus: 403, wantProbs: []string{"app not attached to a project (https://api.x.com/2/problems/client-forbidden)"}},
		{name: "v2 invalid request with errors", status: 400, ctype: "application/json",
			body:    `{"errors":[{"parameters":{"id":["x"]},"message":"The id query parameter value [x] is not valid"}],"title":"Invalid Request","detail":"One or more parameters to your request was invalid.","type":"https://api.twitter.com/2/problems/invalid-request"}`,
			wantErr: true, wantStatus: 400,
			wantProbs: []string{"One or more parameters to your request was invalid. (https://api.twitter.com/2/problems/invalid-request)", "The id query parameter value [x] is not valid"}},
		{name: "code and message", status: 401, ctype: "application/json", body: `{"code":89,"message":"Invalid or expired token."}`,
			wantErr: true, wantStatus: 401, wantProbs: []string{"Invalid or expired token. (code 89)"}},
		{name: "documented 429", status: 429, ctype: "application/json", body: `{"errors":[{"code":88,"message":"Rate limit exceeded"}]}`,
			wantErr: true, wantStatus: 429, wantProbs: []string{"Rate limit exceeded (code 88)"}, rateLimit: true},
		{name: "HTML 502 from a proxy", status: 502, ctype: "text/html", body: "<html>\n<body>502 Bad Gateway</body>\n</html>",
			wantErr: true, wantStatus: 502, wantBody: "<html> <body>502 Bad Gateway</body> </html>"},
		{name: "empty 500", status: 500, wantErr: true, wantStatus: 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := setup(t, func(w http.ResponseWriter, r *http.Request) {
				rateHeaders(w.Header(), 7)
				reply(tt.status, tt.ctype, tt.body)(w, r)
			}, WithMaxRetries(0))
			res, err := c.MarkConversationRead(context.Background(), "1-2", "10")
			var probs []Problem
			var rl RateLimit
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("err = %v, want success", err)
				}
				probs, rl = res.Problems, res.RateLimit
			} else {
				var apiErr *APIError
				if !errors.As(err, &apiErr) {
					t.Fatalf("err = %v (%T), want *APIError", err, err)
				}
				if res != nil {
					t.Errorf("result = %+v beside an error, want nil", res)
				}
				if apiErr.StatusCode != tt.wantStatus {
					t.Errorf("StatusCode = %d, want %d", apiErr.StatusCode, tt.wantStatus)
				}
				if !strings.Contains(apiErr.Body, tt.wantBody) {
					t.Errorf("Body = %q, want it to contain %q", apiErr.Body, tt.wantBody)
				}
				if got := errors.Is(err, ErrRateLimited); got != (tt.wantStatus == 429) {
					t.Errorf("errors.Is(err, ErrRateLimited) = %v for status %d", got, tt.wantStatus)
				}
				if tt.rateLimit && !strings.Contains(err.Error(), reset.UTC().Format(time.RFC3339)) {
					t.Errorf("429 error %q does not give the reset time", err)
				}
				if !strings.Contains(err.Error(), "HTTP "+strconv.Itoa(tt.wantStatus)) {
					t.Errorf("error %q does not give the status", err)
				}
				probs, rl = apiErr.Problems, apiErr.RateLimit
			}
			var got []string
			for _, p := range probs {
				got = append(got, p.String())
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.wantProbs) {
				t.Errorf("problems = %q, want %q", got, tt.wantProbs)
			}
			if rl.Limit != 50 || rl.Remaining != 7 || !rl.Reset.Equal(reset) {
				t.Errorf("RateLimit = %+v, want 50/7/%v", rl, reset)
			}
		})
	}
}

func TestProblemKeepsUnknownMembers(t *testing.T) {
	c := setup(t, reply(403, "application/problem+json",
		`{"type":"https://api.x.com/2/problems/client-forbidden","title":"Client Forbidden","reason":"client-not-enrolled","registration_url":"https://developer.x.com","status":403,"value":12}`),
		WithMaxRetries(0))
	_, err := c.MarkConversationRead(context.Background(), "1", "2")
	var apiErr *APIError
	if !errors.As(err, &apiErr) || len(apiErr.Problems) != 1 {
		t.Fatalf("err = %v", err)
	}
	p := apiErr.Problems[0]
	if p.Status != 403 || p.Title != "Client Forbidden" {
		t.Errorf("problem = %+v", p)
	}
	for name, want := range map[string]string{"reason": `"client-not-enrolled"`, "registration_url": `"https://developer.x.com"`, "value": `12`} {
		if got := string(p.Extra[name]); got != want {
			t.Errorf("Extra[%q] = %s, want %s", name, got, want)
		}
	}
}

func TestRateLimitParsedOnSuccessWithDailyWindows(t *testing.T) {
	c := setup(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("x-rate-limit-limit", "900")
		w.Header().Set("x-rate-limit-remaining", "899")
		w.Header().Set("x-rate-limit-reset", "1900000000")
		w.Header().Set("x-user-limit-24hour-limit", "1000")
		w.Header().Set("x-user-limit-24hour-remaining", "0")
		w.Header().Set("x-user-limit-24hour-reset", "1900050000")
		reply(200, "application/json", successBody)(w, r)
	})
	res, err := c.MarkConversationRead(context.Background(), "1", "2")
	if err != nil {
		t.Fatal(err)
	}
	rl := res.RateLimit
	if rl.Limit != 900 || rl.Remaining != 899 || rl.Reset.Unix() != 1900000000 {
		t.Errorf("RateLimit = %+v", rl)
	}
	if rl.UserDailyLimit != 1000 || rl.UserDailyRemaining != 0 || rl.UserDailyReset.Unix() != 1900050000 ||
		rl.AppDailyLimit != 0 || !rl.AppDailyReset.IsZero() {
		t.Errorf("daily windows = %+v", rl)
	}
	if got := rl.resumeAt().Unix(); got != 1900050000 {
		t.Errorf("resumeAt = %d, want the exhausted daily window's reset", got)
	}
}

func TestCancelledContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := apitest.NewHandler(apitest.WithLatency(time.Hour))
		c, err := NewClient(WithBaseURL("http://127.0.0.1"), WithToken(apitest.DefaultToken),
			WithHTTPClient(&http.Client{Transport: h.Transport()}))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(20*time.Millisecond, cancel)
		_, err = c.MarkConversationRead(ctx, "1", "2")
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}

		ctx, cancel2 := context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer cancel2()
		_, err = c.MarkConversationRead(ctx, "1", "2")
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ctx.Err()) {
			t.Fatalf("err = %v, want context.DeadlineExceeded", err)
		}
		if n := len(h.Marks()); n != 0 {
			t.Errorf("%d marks applied, want none", n)
		}
	})
}

func TestConcurrentUse(t *testing.T) {
	srv := apitest.NewServer(apitest.WithTokens("tok-1", "tok-2", "tok-3"), apitest.WithRateLimit(1<<20, time.Hour))
	defer srv.Close()
	c, err := NewClient(WithBaseURL(srv.URL), WithTokenSource(&countingSource{mod: 3}))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var failures atomic.Int32
	for g := range 16 {
		wg.Go(func() {
			for i := range 20 {
				if _, err := c.MarkConversationRead(context.Background(), "g"+strconv.Itoa(g), strconv.Itoa(i+1)); err != nil {
					failures.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if failures.Load() != 0 || len(srv.Marks()) != 16*20 {
		t.Errorf("%d failures, %d applied; want 0 and %d", failures.Load(), len(srv.Marks()), 16*20)
	}
}

func TestNewClientOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    []Option
		wantErr string // names the option; "" means NewClient succeeds
	}{
		{"no credentials", nil, "WithToken or WithTokenSource"},
		{"empty token", []Option{WithToken("")}, "WithToken"},
		{"token with a newline", []Option{WithToken("abc\n")}, "WithToken: the access token has characters"},
		{"token with a space", []Option{WithToken("Bearer abc")}, "WithToken: the access token has characters"},
		{"token with a quote", []Option{WithToken(`ab"c`)}, "WithToken: the access token has characters"},
		{"token with a backslash", []Option{WithToken(`ab\c`)}, "WithToken: the access token has characters"},
		{"token with padding inside", []Option{WithToken("ab=c")}, "WithToken: the access token has characters"},
		{"token with padding", []Option{WithToken("a+b/c~d.e-f_g==")}, ""},
		{"nil source", []Option{WithTokenSource(nil)}, "WithTokenSource"},
		{"nil http client", []Option{WithToken("t"), WithHTTPClient(nil)}, "WithHTTPClient"},
		{"negative retries", []Option{WithToken("t"), WithMaxRetries(-1)}, "WithMaxRetries"},
		{"negative wait", []Option{WithToken("t"), WithMaxRateLimitWait(-time.Second)}, "WithMaxRateLimitWait"},
		{"bad backoff", []Option{WithToken("t"), WithBackoff(time.Second, time.Millisecond)}, "WithBackoff"},
		{"tiny body cap", []Option{WithToken("t"), WithMaxResponseBytes(10)}, "WithMaxResponseBytes"},
		{"nil logger", []Option{WithToken("t"), WithLogger(nil)}, "WithLogger"},
		{"header injection", []Option{WithToken("t"), WithUserAgent("a\r\nX-Evil: 1")}, "WithUserAgent"},
		{"nil option", []Option{WithToken("t"), nil}, "nil Option"},
		{"empty base", []Option{WithToken("t"), WithBaseURL("")}, "WithBaseURL"},
		{"http to a remote host", []Option{WithToken("t"), WithBaseURL("http://api.x.com")}, "WithBaseURL"},
		{"user info", []Option{WithToken("t"), WithBaseURL("https://user:pw@api.x.com")}, "WithBaseURL"},
		{"query", []Option{WithToken("t"), WithBaseURL("https://api.x.com?a=1")}, "WithBaseURL"},
		{"fragment", []Option{WithToken("t"), WithBaseURL("https://api.x.com#x")}, "WithBaseURL"},
		{"no host", []Option{WithToken("t"), WithBaseURL("/just/a/path")}, "WithBaseURL"},
		{"ftp", []Option{WithToken("t"), WithBaseURL("ftp://127.0.0.1")}, "WithBaseURL"},
		{"https", []Option{WithToken("t"), WithBaseURL("https://api.x.com/")}, ""},
		{"http loopback v4", []Option{WithToken("t"), WithBaseURL("http://127.0.0.2:8080/p")}, ""},
		{"http loopback v6", []Option{WithToken("t"), WithBaseURL("http://[::1]:8080")}, ""},
		{"http localhost", []Option{WithToken("t"), WithBaseURL("http://LOCALHOST:1")}, ""},
		{"retries off", []Option{WithToken("t"), WithMaxRetries(0)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewClient(tt.opts...)
			if tt.wantErr == "" {
				if err != nil || c == nil {
					t.Fatalf("NewClient = %v, %v; want a client", c, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("NewClient error = %v, want one naming %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "pw@") {
				t.Errorf("error %q echoes the URL's password", err)
			}
		})
	}
}

func TestWithHTTPClientDoesNotChangeCallersClient(t *testing.T) {
	hc := &http.Client{Timeout: time.Second}
	if _, err := NewClient(WithToken("t"), WithHTTPClient(hc)); err != nil {
		t.Fatal(err)
	}
	if hc.CheckRedirect != nil {
		t.Error("NewClient changed the caller's *http.Client")
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

func TestCancelWhileWaitingForTheRateLimitKeepsTheAPIError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := newInProcessFaultServer(func(n int, w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set("x-rate-limit-remaining", "0")
			w.Header().Set("x-rate-limit-reset", strconv.FormatInt(time.Now().Add(5*time.Second).Unix(), 10))
			reply(429, "application/json", `{"errors":[{"code":88,"message":"Rate limit exceeded"}]}`)(w, r)
			return true
		})
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(time.Second, cancel) // while the client waits for the reset
		_, err := fs.client(t).MarkConversationRead(ctx, "1", "2")
		var apiErr *APIError
		if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrRateLimited) || !errors.As(err, &apiErr) {
			t.Fatalf("err = %v; want it to match context.Canceled, ErrRateLimited and *APIError", err)
		}
		if fs.requests.Load() != 1 {
			t.Errorf("%d requests, want 1: the cancel came during the wait", fs.requests.Load())
		}
	})
}

func TestRateLimitWithoutResetIsNotRetriedWhenWaitingIsOff(t *testing.T) {
	fs := newFaultServer(t, func(n int, w http.ResponseWriter, r *http.Request) bool {
		reply(429, "application/json", `{"errors":[{"code":88,"message":"Rate limit exceeded"}]}`)(w, r)
		return true
	})
	_, err := fs.client(t, WithMaxRateLimitWait(0)).MarkConversationRead(context.Background(), "1", "2")
	if !errors.Is(err, ErrRateLimited) || fs.requests.Load() != 1 {
		t.Errorf("got %v after %d requests; want the 429 after 1", err, fs.requests.Load())
	}
}

func TestBaseURLKeepsEscapedPath(t *testing.T) {
	base, err := parseBaseURL("http://127.0.0.1:1/a%2Fb")
	if err != nil || base != "http://127.0.0.1:1/a%2Fb/" {
		t.Errorf("parseBaseURL = %q, %v; want the escaped slash kept", base, err)
	}
}

// A zero Client (not from NewClient) returns an error instead of panicking.
func TestZeroClientDoesNotPanic(t *testing.T) {
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("zero Client panics: %v", r)
		}
	}()
	var c Client
	_, err := c.MarkConversationRead(context.Background(), "1", "2")
	t.Log(err)
}

// X's refusal comes back as the *APIError itself, so a type assertion works as well as errors.As.
func TestAPIErrorIsReturnedAsItIs(t *testing.T) {
	c := setup(t, reply(403, "application/problem+json", `{"type":"about:blank","title":"Forbidden"}`))
	_, err := c.MarkConversationRead(context.Background(), "1", "2")
	if apiErr, ok := err.(*APIError); !ok || apiErr.StatusCode != 403 {
		t.Errorf("err = %#v; want an *APIError with status 403", err)
	}
}
