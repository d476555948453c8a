package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/xchat-go/markread/gen"
)

const markPath = "/2/chat/conversations/%s/read"

// response is what a test request got back.
type response struct {
	status int
	header http.Header
	body   []byte
}

// request describes one raw HTTP request to the fake. Raw requests, not api.Client, so that the tests
// can send what a correct client never would.
type request struct {
	method      string
	path        string
	token       string // "" sends no Authorization header
	contentType string
	body        string
	// legacyBody skips response validation: X's documented 429 body is not in the project's spec.
	legacyBody bool
}

// markBody is the JSON body of a mark, encoded from gen's type, so that a renamed member in the spec is a
// compile error here rather than a test that fails for the wrong reason. Malformed bodies stay literal.
func markBody(seq string) string {
	body, err := json.Marshal(gen.MarkChatConversationReadJSONRequestBody{SeenUntilSequenceID: seq})
	if err != nil {
		panic(err)
	}
	return string(body)
}

func markRequest(id, body string) request {
	return request{
		method:      http.MethodPost,
		path:        fmt.Sprintf(markPath, id),
		token:       DefaultToken,
		contentType: "application/json",
		body:        body,
	}
}

// send makes req against s and checks the answer against spec/openapi.yaml wherever the request routes
// to an operation, so that every test also proves the fake answers what the spec says.
func send(t *testing.T, s *Server, req request) response {
	t.Helper()
	httpReq, err := http.NewRequest(req.method, s.URL+req.path, strings.NewReader(req.body))
	if err != nil {
		t.Fatal(err)
	}
	if req.token != "" {
		httpReq.Header.Set("Authorization", "Bearer "+req.token)
	}
	if req.contentType != "" {
		httpReq.Header.Set("Content-Type", req.contentType)
	}
	resp, err := http.DefaultClient.Do(httpReq)
	if err != nil {
		t.Fatalf("%s %s: %v", req.method, req.path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset"} {
		if _, err := strconv.ParseInt(resp.Header.Get(name), 10, 64); err != nil {
			t.Errorf("%s %s → %d: header %s = %q, want an integer", req.method, req.path, resp.StatusCode, name, resp.Header.Get(name))
		}
	}
	if !req.legacyBody {
		validateResponse(t, req, resp, body)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

func validateResponse(t *testing.T, req request, resp *http.Response, body []byte) {
	t.Helper()
	v, err := loadValidator()
	if err != nil {
		t.Fatal(err)
	}
	probe, err := http.NewRequest(req.method, req.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	rr := v.find(probe)
	if rr.route == nil {
		return // 404 and 405: no operation to hold the answer against
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: probe, PathParams: rr.params, Route: rr.route},
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	}
	input.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), input); err != nil {
		t.Errorf("%s %s → %d %s: the answer breaks the spec: %v", req.method, req.path, resp.StatusCode, body, err)
	}
}

// decode reads a JSON body into a generic map, failing the test when it is not JSON.
func decode(t *testing.T, r response) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %s is not a JSON object: %v", r.body, err)
	}
	return m
}

func TestMarkIsApplied(t *testing.T) {
	s := NewServer()
	defer s.Close()

	resp := send(t, s, markRequest("1587411342381740032-783214", markBody("1940387460021112833")))

	if resp.status != http.StatusOK || string(resp.body) != `{"data":{"success":true}}` {
		t.Fatalf("got %d %s, want 200 {\"data\":{\"success\":true}}", resp.status, resp.body)
	}
	if ct := resp.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if seq, ok := s.ReadState(DefaultToken, "1587411342381740032-783214"); !ok || seq != "1940387460021112833" {
		t.Errorf("ReadState = %q, %v; want 1940387460021112833, true", seq, ok)
	}
	marks := s.Marks()
	if len(marks) != 1 || marks[0].ConversationID != "1587411342381740032-783214" ||
		marks[0].SequenceID != "1940387460021112833" || !marks[0].Advanced || marks[0].Time.IsZero() {
		t.Errorf("Marks = %+v, want the one mark, advanced, with a time", marks)
	}
	if n := s.Requests(); n != 1 {
		t.Errorf("Requests = %d, want 1", n)
	}
}

func TestEveryIDFormIsAccepted(t *testing.T) {
	s := NewServer()
	defer s.Close()
	for _, id := range []string{"783214", "1587411342381740032-783214", "g1940387460021112832", "9999999999999999999"} {
		if resp := send(t, s, markRequest(id, markBody("1"))); resp.status != http.StatusOK {
			t.Errorf("id %q: got %d %s, want 200", id, resp.status, resp.body)
		}
	}
}

func TestLowerSequenceIDNeverMovesTheMarkBack(t *testing.T) {
	s := NewServer()
	defer s.Close()
	const id = "g42"
	for _, seq := range []string{"9", "10", "9", "0010", "11", "12", "011"} {
		if resp := send(t, s, markRequest(id, markBody(seq))); resp.status != http.StatusOK {
			t.Fatalf("seq %q: got %d %s", seq, resp.status, resp.body)
		}
	}
	if seq, _ := s.ReadState(DefaultToken, id); seq != "12" {
		t.Errorf("ReadState = %q, want 12", seq)
	}
	var advanced []bool
	for _, m := range s.Marks() {
		advanced = append(advanced, m.Advanced)
	}
	want := []bool{true, true, false, false, true, true, false}
	if fmt.Sprint(advanced) != fmt.Sprint(want) {
		t.Errorf("Advanced per mark = %v, want %v", advanced, want)
	}
}

func TestReadStateIsPerToken(t *testing.T) {
	s := NewServer(WithTokens("alice-token", "bob-token"))
	defer s.Close()
	alice := markRequest("g1", markBody("5"))
	alice.token = "alice-token"
	send(t, s, alice)

	if seq, ok := s.ReadState("alice-token", "g1"); !ok || seq != "5" {
		t.Errorf("alice: ReadState = %q, %v; want 5, true", seq, ok)
	}
	if _, ok := s.ReadState("bob-token", "g1"); ok {
		t.Error("bob: ReadState found a mark alice made")
	}
	if resp := send(t, s, markRequest("g1", markBody("5"))); resp.status != http.StatusUnauthorized {
		t.Errorf("DefaultToken after WithTokens: got %d, want 401", resp.status)
	}
}

func TestInvalidRequestsGetXsProblem(t *testing.T) {
	tests := []struct {
		name          string
		req           request
		wantParameter string
	}{
		{"letters in id", markRequest("abc", markBody("1")), "id"},
		{"20-digit id", markRequest("12345678901234567890", markBody("1")), "id"},
		{"a:b form", markRequest("1:2", markBody("1")), "id"},
		{"three parts", markRequest("1-2-3", markBody("1")), "id"},
		{"bare g", markRequest("g", markBody("1")), "id"},
		{"missing sequence ID", markRequest("1", `{}`), "seen_until_sequence_id"},
		{"numeric sequence ID", markRequest("1", `{"seen_until_sequence_id":1}`), "seen_until_sequence_id"},
		{"empty sequence ID", markRequest("1", markBody("")), "seen_until_sequence_id"},
		{"letters in the sequence ID", markRequest("1", markBody("abc")), "seen_until_sequence_id"},
		{"a conversation ID as the sequence ID", markRequest("1", markBody("g1940387460021112832")), "seen_until_sequence_id"},
		{"signed sequence ID", markRequest("1", markBody("-5")), "seen_until_sequence_id"},
		{"unicode digits", markRequest("1", markBody("\u0661\u0662")), "seen_until_sequence_id"},
		{"array body", markRequest("1", `[]`), ""},
		{"broken JSON", markRequest("1", `{"seen_until_sequence_id":`), ""},
		{"no body", markRequest("1", ``), ""},
		{"text body", func() request {
			r := markRequest("1", markBody("1"))
			r.contentType = "text/plain"
			return r
		}(), ""},
	}
	s := NewServer()
	defer s.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := send(t, s, tt.req)
			if resp.status != http.StatusBadRequest {
				t.Fatalf("got %d %s, want 400", resp.status, resp.body)
			}
			if ct := resp.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type = %q, want application/problem+json", ct)
			}
			p := decode(t, resp)
			if p["type"] != problemInvalidRequest || p["title"] != "Invalid Request" || p["status"] != float64(400) {
				t.Errorf("problem = %s, want X's invalid-request problem", resp.body)
			}
			if got, _ := p["parameter"].(string); got != tt.wantParameter {
				t.Errorf("parameter = %q, want %q (body %s)", got, tt.wantParameter, resp.body)
			}
			if detail, _ := p["detail"].(string); detail == "" || strings.Contains(detail, "\n") {
				t.Errorf("detail = %q, want one non-empty line", detail)
			}
		})
	}
	if marks := s.Marks(); len(marks) != 0 {
		t.Errorf("invalid requests applied marks: %+v", marks)
	}
	if n := s.Requests(); n != len(tests) {
		t.Errorf("Requests = %d, want %d", n, len(tests))
	}
}

func TestInvalidIDProblemEchoesTheValue(t *testing.T) {
	s := NewServer()
	defer s.Close()
	p := decode(t, send(t, s, markRequest("abc", markBody("1"))))
	if p["value"] != "abc" || !strings.Contains(p["detail"].(string), `"abc"`) {
		t.Errorf("problem = %v, want value abc quoted in the detail", p)
	}
}

func TestUnknownPathAndWrongMethod(t *testing.T) {
	s := NewServer()
	defer s.Close()

	for _, path := range []string{"/2/chat/conversations/1/unread", "/2/chat/conversations/1/read/", "/", "/1/chat/conversations/1/read"} {
		r := markRequest("1", markBody("1"))
		r.path = path
		resp := send(t, s, r)
		if p := decode(t, resp); resp.status != http.StatusNotFound || p["status"] != float64(404) || p["type"] != "about:blank" {
			t.Errorf("POST %s: got %d %s, want a 404 problem", path, resp.status, resp.body)
		}
	}

	r := markRequest("1", "")
	r.method = http.MethodGet
	resp := send(t, s, r)
	if resp.status != http.StatusMethodNotAllowed || resp.header.Get("Allow") != "POST" {
		t.Errorf("GET: got %d, Allow %q; want 405, Allow POST", resp.status, resp.header.Get("Allow"))
	}
	if p := decode(t, resp); p["status"] != float64(405) {
		t.Errorf("GET: body %s, want a 405 problem", resp.body)
	}
}

func TestMissingOrUnknownTokenGets401(t *testing.T) {
	s := NewServer()
	defer s.Close()
	for name, header := range map[string]string{
		"none":          "",
		"unknown":       "Bearer not-the-token",
		"basic":         "Basic " + DefaultToken,
		"oauth1":        `OAuth oauth_consumer_key="k", oauth_token="t"`,
		"bearer, empty": "Bearer ",
	} {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, s.URL+fmt.Sprintf(markPath, "1"), strings.NewReader(markBody("1")))
			req.Header.Set("Content-Type", "application/json")
			if header != "" {
				req.Header.Set("Authorization", header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			want := `{"type":"about:blank","title":"Unauthorized","detail":"Unauthorized","status":401}`
			if resp.StatusCode != http.StatusUnauthorized || string(body) != want {
				t.Errorf("got %d %s, want 401 %s", resp.StatusCode, body, want)
			}
			if resp.Header.Get("x-rate-limit-limit") == "" {
				t.Error("401 without rate-limit headers")
			}
		})
	}
	if len(s.Marks()) != 0 {
		t.Error("an unauthenticated request applied a mark")
	}
}

func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	s := NewServer()
	defer s.Close()
	req, _ := http.NewRequest(http.MethodPost, s.URL+fmt.Sprintf(markPath, "1"), strings.NewReader(markBody("1")))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "bearer "+DefaultToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("got %d, want 200", resp.StatusCode)
	}
}

// fakeClock is a settable clock for WithClock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestRateLimitPerTokenWindow(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 250_000_000)}
	s := NewServer(WithRateLimit(2, time.Minute), WithClock(clock.Now), WithTokens("alice", "bob"))
	defer s.Close()
	mark := func(token string) response {
		r := markRequest("g1", markBody("1"))
		r.token = token
		return send(t, s, r)
	}
	wantReset := strconv.FormatInt(1_800_000_061, 10) // window end rounded up to the second

	for i, wantRemaining := range []string{"1", "0"} {
		resp := mark("alice")
		if resp.status != http.StatusOK || resp.header.Get("x-rate-limit-remaining") != wantRemaining ||
			resp.header.Get("x-rate-limit-limit") != "2" || resp.header.Get("x-rate-limit-reset") != wantReset {
			t.Fatalf("request %d: got %d remaining=%s limit=%s reset=%s; want 200, %s, 2, %s", i+1, resp.status,
				resp.header.Get("x-rate-limit-remaining"), resp.header.Get("x-rate-limit-limit"), resp.header.Get("x-rate-limit-reset"),
				wantRemaining, wantReset)
		}
	}

	resp := mark("alice")
	want := `{"type":"about:blank","title":"Too Many Requests","detail":"Too Many Requests","status":429}`
	if resp.status != http.StatusTooManyRequests || string(resp.body) != want {
		t.Fatalf("third request: got %d %s, want 429 %s", resp.status, resp.body, want)
	}
	if resp.header.Get("x-rate-limit-remaining") != "0" || resp.header.Get("x-rate-limit-reset") != wantReset {
		t.Errorf("429 headers: remaining=%s reset=%s", resp.header.Get("x-rate-limit-remaining"), resp.header.Get("x-rate-limit-reset"))
	}
	if got := s.RateLimit("alice"); got.Remaining != 0 || got.Reset.Unix() != 1_800_000_061 || got.Limit != 2 {
		t.Errorf("RateLimit(alice) = %+v", got)
	}
	if len(s.Marks()) != 2 {
		t.Errorf("a rate-limited request applied a mark: %+v", s.Marks())
	}

	if resp := mark("bob"); resp.status != http.StatusOK || resp.header.Get("x-rate-limit-remaining") != "1" {
		t.Errorf("bob: got %d remaining=%s, want 200 and his own window", resp.status, resp.header.Get("x-rate-limit-remaining"))
	}

	clock.Advance(time.Minute)
	if resp := mark("alice"); resp.status != http.StatusOK || resp.header.Get("x-rate-limit-remaining") != "1" {
		t.Errorf("after the window: got %d remaining=%s, want 200 and a new window", resp.status, resp.header.Get("x-rate-limit-remaining"))
	}
}

func TestInvalidRequestsUseTheWindowUp(t *testing.T) {
	s := NewServer(WithRateLimit(1, time.Hour))
	defer s.Close()
	if resp := send(t, s, markRequest("1", `{}`)); resp.status != http.StatusBadRequest {
		t.Fatalf("got %d, want 400", resp.status)
	}
	if resp := send(t, s, markRequest("1", markBody("1"))); resp.status != http.StatusTooManyRequests {
		t.Errorf("got %d, want 429 after a 400 used the only request", resp.status)
	}
}

func TestLegacyRateLimitBody(t *testing.T) {
	s := NewServer(WithRateLimit(1, time.Hour), WithLegacyRateLimitBody())
	defer s.Close()
	send(t, s, markRequest("1", markBody("1")))
	r := markRequest("1", markBody("1"))
	r.legacyBody = true
	resp := send(t, s, r)
	if resp.status != http.StatusTooManyRequests || string(resp.body) != `{"errors":[{"code":88,"message":"Rate limit exceeded"}]}` ||
		resp.header.Get("Content-Type") != "application/json" {
		t.Errorf("got %d %s %s, want X's documented 429", resp.status, resp.header.Get("Content-Type"), resp.body)
	}
}

func TestFailNextFailsBeforeApplying(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.FailNext(2, http.StatusServiceUnavailable)
	s.FailNext(1, http.StatusTooManyRequests)
	s.FailNext(1, http.StatusUnauthorized)

	for i, want := range []int{503, 503, 429, 401, 200} {
		resp := send(t, s, markRequest("1", markBody("1")))
		if resp.status != want {
			t.Fatalf("request %d: got %d %s, want %d", i+1, resp.status, resp.body, want)
		}
		if want == 503 {
			if p := decode(t, resp); p["status"] != float64(503) || p["title"] != "Service Unavailable" {
				t.Errorf("503 body %s, want a problem", resp.body)
			}
		}
	}
	if marks := s.Marks(); len(marks) != 1 {
		t.Errorf("Marks = %+v, want only the last request's", marks)
	}
	if n := s.Requests(); n != 5 {
		t.Errorf("Requests = %d, want 5", n)
	}
}

func TestFaultsComeBeforeRouting(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.FailNext(1, http.StatusInternalServerError)
	r := markRequest("1", "")
	r.path = "/nowhere"
	if resp := send(t, s, r); resp.status != http.StatusInternalServerError {
		t.Errorf("got %d, want the injected 500", resp.status)
	}
}

// transportError posts a valid mark and returns the transport error, failing the test if an answer came.
func transportError(t *testing.T, s *Server) error {
	t.Helper()
	// A fresh transport per request, so that a dropped connection cannot be confused with a stale one.
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodPost, s.URL+fmt.Sprintf(markPath, "g7"), strings.NewReader(markBody("3")))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+DefaultToken)
	resp, err := client.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got HTTP %d, want a dropped connection", resp.StatusCode)
	}
	return err
}

func TestDropNextDropsBeforeApplying(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.DropNext(1)
	transportError(t, s)
	if _, ok := s.ReadState(DefaultToken, "g7"); ok {
		t.Error("a dropped request applied its mark")
	}
	if resp := send(t, s, markRequest("g7", markBody("3"))); resp.status != http.StatusOK {
		t.Errorf("after the drop: got %d, want 200", resp.status)
	}
}

func TestAfterApplyFaultsApplyThenLoseTheAnswer(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.DropNextAfterApply(1)
	s.FailNextAfterApply(1, http.StatusGatewayTimeout)

	// A 400 does not reach the apply step, so it must not use the fault up.
	if resp := send(t, s, markRequest("g7", `{}`)); resp.status != http.StatusBadRequest {
		t.Fatalf("got %d, want 400", resp.status)
	}
	transportError(t, s)
	if seq, ok := s.ReadState(DefaultToken, "g7"); !ok || seq != "3" {
		t.Errorf("after a lost answer: ReadState = %q, %v; want 3, true", seq, ok)
	}
	resp := send(t, s, markRequest("g7", markBody("4")))
	if resp.status != http.StatusGatewayTimeout {
		t.Errorf("got %d, want the injected 504", resp.status)
	}
	if seq, _ := s.ReadState(DefaultToken, "g7"); seq != "4" {
		t.Errorf("after a failed answer: ReadState = %q, want 4", seq)
	}
	if resp := send(t, s, markRequest("g7", markBody("4"))); resp.status != http.StatusOK {
		t.Errorf("faults used up: got %d, want 200", resp.status)
	}
}

func TestLatencyDelaysAnswers(t *testing.T) {
	s := NewServer(WithLatency(time.Hour))
	defer s.Close() // must not wait for the hour: Close cuts requests in flight off

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+fmt.Sprintf(markPath, "1"), strings.NewReader(markBody("1")))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+DefaultToken)
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got HTTP %d before the hour of latency passed", resp.StatusCode)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the client's deadline", err)
	}

	s.SetLatency(0)
	if resp := send(t, s, markRequest("1", markBody("1"))); resp.status != http.StatusOK {
		t.Errorf("after SetLatency(0): got %d, want 200", resp.status)
	}
}

func TestConcurrentMarksKeepTheHighest(t *testing.T) {
	s := NewServer()
	defer s.Close()
	const n = 40
	var wg sync.WaitGroup
	for i := 1; i <= n; i++ {
		wg.Go(func() {
			body := markBody(strconv.Itoa(i))
			req, _ := http.NewRequest(http.MethodPost, s.URL+fmt.Sprintf(markPath, "g1"), bytes.NewReader([]byte(body)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+DefaultToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("mark %d: HTTP %d", i, resp.StatusCode)
			}
		})
	}
	wg.Go(func() { // readers alongside the writers, for the race detector
		for range n {
			s.Marks()
			s.ReadState(DefaultToken, "g1")
			s.RateLimit(DefaultToken)
		}
	})
	wg.Wait()
	if seq, _ := s.ReadState(DefaultToken, "g1"); seq != strconv.Itoa(n) {
		t.Errorf("ReadState = %q, want %d", seq, n)
	}
	if got := len(s.Marks()); got != n || s.Requests() != n {
		t.Errorf("Marks %d, Requests %d; want %d each", got, s.Requests(), n)
	}
}

func TestMisusedOptionsPanic(t *testing.T) {
	for name, opt := range map[string]Option{
		"zero limit":       WithRateLimit(0, time.Minute),
		"zero window":      WithRateLimit(1, 0),
		"empty token":      WithTokens(""),
		"token with space": WithTokens("a b"),
		"negative latency": WithLatency(-time.Second),
		"nil clock":        WithClock(nil),
		"nil option":       nil,
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("NewHandler did not panic")
				}
			}()
			NewHandler(opt)
		})
	}
}

func TestMisusedFaultsPanic(t *testing.T) {
	h := NewHandler()
	for name, inject := range map[string]func(){
		"status 200":   func() { h.FailNext(1, 200) },
		"status 600":   func() { h.FailNextAfterApply(1, 600) },
		"negative n":   func() { h.DropNext(-1) },
		"negative lag": func() { h.SetLatency(-1) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			inject()
		})
	}
}

func TestOversizedBodyIsRefused(t *testing.T) {
	s := NewServer()
	defer s.Close()
	big := markBody(strings.Repeat("9", maxBodyBytes))
	resp := send(t, s, markRequest("1", big))
	if resp.status != http.StatusRequestEntityTooLarge || len(s.Marks()) != 0 {
		t.Errorf("got %d with %d marks, want 413 and none", resp.status, len(s.Marks()))
	}
}
