package apitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/xchat-go/markread/gen"
)

// DefaultToken is the bearer token a server accepts when no WithTokens option is given. It is a test
// token of this package, not a credential: hand it to api.WithToken.
const DefaultToken = "apitest-token"

// Defaults of WithRateLimit: generous enough that a test that does not care never meets the limit.
const (
	DefaultRateLimit  = 900
	DefaultRateWindow = 15 * time.Minute
)

// maxBodyBytes bounds what the fake reads of a request body; X's bodies here are a few dozen bytes.
const maxBodyBytes = 64 << 10

const problemInvalidRequest = "https://api.x.com/2/problems/invalid-request"

// Option configures a Handler or a Server. A nonsensical value (a limit below 1, an empty token) is a
// programmer error: NewHandler and NewServer panic with a message naming the option.
type Option func(*config)

type config struct {
	tokens    []string
	limit     int
	window    time.Duration
	latency   time.Duration
	legacy429 bool
	now       func() time.Time
	clients   []oauthClient
	lifetime  time.Duration
	oauth1    []oauth1Credentials
	misuse    []string // option misuse, reported together by NewHandler
}

// WithTokens sets the bearer tokens the server accepts, instead of DefaultToken. Calls add up. Each token
// is a user of its own, named as the token, and never expires. With an empty list no such token
// authenticates, and a request to the endpoint gets 401 unless it presents a token issued through OAuth
// (WithOAuthClient) or is signed with OAuth 1.0a (WithOAuth1).
func WithTokens(tokens ...string) Option {
	return func(c *config) {
		if c.tokens == nil {
			c.tokens = []string{}
		}
		for _, tok := range tokens {
			if strings.TrimSpace(tok) == "" || strings.ContainsAny(tok, " \t\r\n") {
				c.misuse = append(c.misuse, "WithTokens: a token is empty or contains white space")
				continue
			}
			c.tokens = append(c.tokens, tok)
		}
	}
}

// WithRateLimit allows limit requests per user (every token of the user counts) in each window (default DefaultRateLimit per
// DefaultRateWindow). Windows shorter than a second work, but the reset header still names whole seconds.
func WithRateLimit(limit int, window time.Duration) Option {
	return func(c *config) {
		if limit < 1 || window <= 0 {
			c.misuse = append(c.misuse, fmt.Sprintf("WithRateLimit: want limit >= 1 and window > 0, got %d and %v", limit, window))
			return
		}
		c.limit, c.window = limit, window
	}
}

// WithLatency delays every answer by d, to test a client's timeouts. SetLatency changes it later.
func WithLatency(d time.Duration) Option {
	return func(c *config) {
		if d < 0 {
			c.misuse = append(c.misuse, fmt.Sprintf("WithLatency: %v is negative", d))
			return
		}
		c.latency = d
	}
}

// WithLegacyRateLimitBody makes a 429 carry the body X documents, {"errors":[{"code":88,"message":"Rate
// limit exceeded"}]} as application/json, instead of X API v2's problem object, so that a client's
// handling of both shapes can be tested. The project's spec does not describe this body.
func WithLegacyRateLimitBody() Option {
	return func(c *config) { c.legacy429 = true }
}

// WithClock makes the server read the time from now, so that a test can move rate-limit windows and mark
// times without sleeping. The clock must be safe for concurrent use.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now == nil {
			c.misuse = append(c.misuse, "WithClock: nil clock")
			return
		}
		c.now = now
	}
}

// Mark is one mark the server accepted (answered, or applied and then lost by an after-apply fault).
type Mark struct {
	// Token is the token the request presented: a bearer token, or an OAuth 1.0a access token.
	Token string
	// User is whose read state the mark moved: the token itself for WithTokens and WithOAuth1 tokens,
	// OAuthUser for tokens issued through the OAuth 2.0 endpoints.
	User string
	// ConversationID is the id path parameter as sent.
	ConversationID string
	// SequenceID is seen_until_sequence_id as sent.
	SequenceID string
	// Time is when the server applied it.
	Time time.Time
	// Advanced says whether it moved the read state: false when the conversation was already read as far.
	Advanced bool
}

// RateLimitState is a user's rate-limit window as the x-rate-limit-* headers report it.
type RateLimitState struct {
	Limit     int
	Remaining int
	// Reset is when the window starts over, rounded up to the whole second as x-rate-limit-reset says it.
	Reset time.Time
}

// fault is an injected failure: an HTTP status, or a dropped connection when drop is set.
type fault struct {
	count  int
	status int
	drop   bool
}

type readKey struct{ user, conversationID string }

type window struct {
	end  time.Time
	used int
}

// Handler is the fake endpoint as an http.Handler, for serving it on an address of your choice (see
// NewServer for the usual case). Its methods are safe for concurrent use.
type Handler struct {
	validator *validator
	limit     int
	window    time.Duration
	legacy429 bool
	now       func() time.Time

	// closing is closed by Server.Close, to end latency waits that would otherwise hold Close up.
	closing   chan struct{}
	closeOnce sync.Once

	// Set up by NewHandler and never changed: safe to read without mu.
	clients      map[string]oauthClient
	lifetime     time.Duration
	consumers    map[string]string      // OAuth 1.0a consumer key → consumer secret
	oauth1Tokens map[string]oauth1Token // OAuth 1.0a access token → its secret and consumer

	mu       sync.Mutex // guards everything below
	tokens   map[string]bearer
	latency  time.Duration
	requests int
	read     map[readKey]string
	marks    []Mark
	windows  map[string]*window // by user
	before   []fault            // FailNext, DropNext: first in, first out
	after    []fault            // FailNextAfterApply, DropNextAfterApply

	codes           map[string]authCode
	refreshTokens   map[string]refreshGrant
	refreshRequests int
	nonces          map[oauth1Nonce]time.Time // OAuth 1.0a nonces used → their request's timestamp
}

// NewHandler returns the fake endpoint configured by opts. It panics on a misused option or if the
// embedded spec does not load, both programmer errors.
func NewHandler(opts ...Option) *Handler {
	v, err := loadValidator()
	if err != nil {
		panic("apitest: " + err.Error())
	}
	cfg := config{limit: DefaultRateLimit, window: DefaultRateWindow, now: time.Now, lifetime: DefaultAccessTokenLifetime}
	for _, opt := range opts {
		if opt == nil {
			panic("apitest: nil Option")
		}
		opt(&cfg)
	}
	if len(cfg.misuse) > 0 {
		panic("apitest: " + strings.Join(cfg.misuse, "; "))
	}
	if cfg.tokens == nil {
		cfg.tokens = []string{DefaultToken}
	}
	h := &Handler{
		validator: v,
		limit:     cfg.limit,
		window:    cfg.window,
		legacy429: cfg.legacy429,
		now:       cfg.now,
		clients:   make(map[string]oauthClient, len(cfg.clients)),
		lifetime:  cfg.lifetime,
		tokens:    make(map[string]bearer, len(cfg.tokens)),
		latency:   cfg.latency,
		read:      make(map[readKey]string),
		windows:   make(map[string]*window),
		closing:   make(chan struct{}),

		codes:         make(map[string]authCode),
		refreshTokens: make(map[string]refreshGrant),
		nonces:        make(map[oauth1Nonce]time.Time),
	}
	for _, tok := range cfg.tokens {
		h.tokens[tok] = bearer{user: tok}
	}
	for _, c := range cfg.clients {
		h.clients[c.id] = c
	}
	h.consumers, h.oauth1Tokens = oauth1Users(cfg.oauth1)
	return h
}

// Server is a Handler serving on a loopback port, in the manner of net/http/httptest.
type Server struct {
	*Handler
	// URL is the base URL to hand to api.WithBaseURL, such as http://127.0.0.1:41234 (no trailing slash).
	URL string

	srv *httptest.Server
}

// NewServer starts a fake X endpoint on 127.0.0.1 and returns it; Close it when done. It panics only
// where NewHandler does, and where httptest.NewServer does (no loopback port to listen on).
func NewServer(opts ...Option) *Server {
	h := NewHandler(opts...)
	ts := httptest.NewServer(h)
	return &Server{Handler: h, URL: ts.URL, srv: ts}
}

// Close shuts the server down. Requests in flight are cut off rather than waited for, so that a long
// WithLatency cannot hang a test's cleanup.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closing) })
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// Requests is how many requests the server has received at X's API, counted on arrival: before faults,
// routing, authentication and validation. A client that validates its input must leave it at 0 for bad
// input. Requests to the OAuth endpoints (AuthorizePath, TokenPath) are not counted.
func (h *Handler) Requests() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.requests
}

// ReadState returns how far token's user has read conversationID: the highest sequence ID applied, and
// whether any was. Any token of the user will do, an expired or refreshed one included.
func (h *Handler) ReadState(token, conversationID string) (seq string, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	user, known := h.userOf(token)
	if !known {
		return "", false
	}
	seq, ok = h.read[readKey{user, conversationID}]
	return seq, ok
}

// Marks returns a copy of every mark accepted so far, in the order applied.
func (h *Handler) Marks() []Mark {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Mark, len(h.marks))
	copy(out, h.marks)
	return out
}

// RateLimit returns the current rate-limit window of token's user as the next response's headers would
// report it before that request is counted. Any token of the user will do, an expired one included.
func (h *Handler) RateLimit(token string) RateLimitState {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.state(h.currentWindow(token, h.now()))
}

// SetLatency changes the delay added to every answer from now on.
func (h *Handler) SetLatency(d time.Duration) {
	if d < 0 {
		panic(fmt.Sprintf("apitest: SetLatency: %v is negative", d))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.latency = d
}

// FailNext makes the next n requests fail with status (400 to 599) before anything is looked at or
// applied. A 429 carries the rate-limit body, a 401 X's Unauthorized problem, any other status a problem
// object of type about:blank. Faults queue up behind those already injected.
func (h *Handler) FailNext(n, status int) {
	h.inject(&h.before, "FailNext", n, status, false)
}

// DropNext makes the server close the connection of each of the next n requests without answering,
// before anything is applied: the client sees a transport error.
func (h *Handler) DropNext(n int) {
	h.inject(&h.before, "DropNext", n, 0, true)
}

// FailNextAfterApply makes the next n requests that mark a conversation read apply their mark and then
// answer status (400 to 599) instead of 200: X did the work, the client is told it failed.
func (h *Handler) FailNextAfterApply(n, status int) {
	h.inject(&h.after, "FailNextAfterApply", n, status, false)
}

// DropNextAfterApply makes the next n requests that mark a conversation read apply their mark and then
// lose the answer (the connection is closed): the client cannot know that it succeeded.
func (h *Handler) DropNextAfterApply(n int) {
	h.inject(&h.after, "DropNextAfterApply", n, 0, true)
}

func (h *Handler) inject(queue *[]fault, name string, n, status int, drop bool) {
	if n < 0 || (!drop && (status < 400 || status > 599)) {
		panic(fmt.Sprintf("apitest: %s(%d, %d): want n >= 0 and a status from 400 to 599", name, n, status))
	}
	if n == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	*queue = append(*queue, fault{count: n, status: status, drop: drop})
}

// takeFault removes one use of the first fault in queue. Call with h.mu held.
func takeFault(queue *[]fault) (fault, bool) {
	if len(*queue) == 0 {
		return fault{}, false
	}
	f := (*queue)[0]
	if (*queue)[0].count--; (*queue)[0].count == 0 {
		*queue = (*queue)[1:]
	}
	return f, true
}

// currentWindow returns the rate-limit window of token's user, opening a new one when the last has
// ended. Unknown tokens get a fresh window that is not stored, so that garbage tokens cannot grow the
// server's memory. Call with h.mu held.
func (h *Handler) currentWindow(token string, now time.Time) *window {
	user, known := h.userOf(token)
	if !known {
		return &window{end: now.Add(h.window)}
	}
	return h.userWindow(user, now)
}

// userWindow returns user's rate-limit window, opening a new one when the last has ended. Call with
// h.mu held.
func (h *Handler) userWindow(user string, now time.Time) *window {
	w := h.windows[user]
	if w == nil || !now.Before(w.end) {
		w = &window{end: now.Add(h.window)}
		h.windows[user] = w
	}
	return w
}

// state is what the x-rate-limit-* headers say about w.
func (h *Handler) state(w *window) RateLimitState {
	return RateLimitState{Limit: h.limit, Remaining: h.limit - w.used, Reset: ceilSecond(w.end)}
}

func ceilSecond(t time.Time) time.Time {
	if t.Nanosecond() == 0 {
		return t
	}
	return t.Truncate(time.Second).Add(time.Second)
}

// ServeHTTP answers one request as X would; see the package documentation for the order of the rules.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case AuthorizePath:
		h.serveAuthorize(w, r)
		return
	case TokenPath:
		h.serveToken(w, r)
		return
	}
	token := presentedToken(r)
	// Reading the body first lets net/http notice a client that hangs up during the latency below (it
	// watches the connection only once the body is consumed), and makes a dropped connection a clean EOF.
	raw, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	r.Body = io.NopCloser(bytes.NewReader(raw))
	h.mu.Lock()
	h.requests++
	latency := h.latency
	injected, hasFault := takeFault(&h.before)
	h.mu.Unlock()

	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		case <-h.closing:
			t.Stop()
			return
		}
	}
	if hasFault {
		h.writeFault(w, token, injected)
		return
	}

	rr := h.validator.find(r)
	switch {
	case rr.route == nil && len(rr.allow) > 0:
		w.Header().Set("Allow", strings.Join(rr.allow, ", "))
		h.writeProblem(w, token, aboutBlank(http.StatusMethodNotAllowed,
			fmt.Sprintf("%s is not allowed on %s; use %s.", r.Method, r.URL.Path, strings.Join(rr.allow, " or "))))
		return
	case rr.route == nil:
		h.writeProblem(w, token, aboutBlank(http.StatusNotFound,
			fmt.Sprintf("No operation at %s %s.", r.Method, r.URL.Path)))
		return
	}
	user, known := h.authenticate(r, raw)
	if !known {
		// X's own answer, word for word: it says nothing about why, and neither does the fake.
		h.writeProblem(w, token, aboutBlank(http.StatusUnauthorized, "Unauthorized"))
		return
	}

	// Every authenticated request uses the window up, whether or not it is valid, as on X.
	h.mu.Lock()
	win := h.userWindow(user, h.now())
	allowed := win.used < h.limit
	if allowed {
		win.used++
	}
	rl := h.state(win)
	h.mu.Unlock()
	if !allowed {
		h.writeRateLimited(w, rl)
		return
	}

	if readErr != nil {
		h.writeJSON(w, rl, http.StatusRequestEntityTooLarge, "application/problem+json",
			aboutBlank(http.StatusRequestEntityTooLarge, fmt.Sprintf("The request body is larger than %d bytes.", maxBodyBytes)))
		return
	}
	if err := h.validator.validate(r.Context(), r, rr); err != nil {
		h.writeJSON(w, rl, http.StatusBadRequest, "application/problem+json", invalidRequest(err))
		return
	}
	// gen's type, so that a member the spec renames stops this file from compiling instead of going unread.
	var body gen.MarkChatConversationReadJSONRequestBody
	// The validator has vouched for a JSON object whose seen_until_sequence_id is a string.
	if err := json.Unmarshal(raw, &body); err != nil {
		h.writeJSON(w, rl, http.StatusBadRequest, "application/problem+json", invalidRequest(err))
		return
	}
	if !isDigits(body.SeenUntilSequenceID) {
		// The spec types it as a plain string; X answers a malformed one like this, and so does the fake.
		// The member's name below follows the spec by design; a test checks it.
		detail := "The `seen_until_sequence_id` body member is empty; there is nothing to mark read up to."
		if body.SeenUntilSequenceID != "" {
			detail = fmt.Sprintf("The `seen_until_sequence_id` body member value %q is not a sequence ID (ASCII digits).", body.SeenUntilSequenceID)
		}
		h.writeJSON(w, rl, http.StatusBadRequest, "application/problem+json", problem{
			Type:      problemInvalidRequest,
			Title:     "Invalid Request",
			Detail:    detail,
			Status:    http.StatusBadRequest,
			Parameter: "seen_until_sequence_id",
			Value:     body.SeenUntilSequenceID,
		})
		return
	}

	h.mu.Lock()
	h.apply(token, user, rr.params["id"], body.SeenUntilSequenceID)
	lost, isLost := takeFault(&h.after)
	h.mu.Unlock()
	if isLost {
		h.writeFault(w, token, lost)
		return
	}
	h.writeJSON(w, rl, http.StatusOK, "application/json", successBody)
}

// apply records a mark and moves the read state forward, never back. Call with h.mu held.
func (h *Handler) apply(token, user, conversationID, seq string) {
	key := readKey{user, conversationID}
	cur, ok := h.read[key]
	advanced := !ok || compareSequenceIDs(seq, cur) > 0
	if advanced {
		h.read[key] = seq
	}
	h.marks = append(h.marks, Mark{Token: token, User: user, ConversationID: conversationID, SequenceID: seq, Time: h.now(), Advanced: advanced})
}
