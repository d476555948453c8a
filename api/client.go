package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/xchat-go/markread/gen"
)

// Version is this library's version, sent in the default User-Agent.
const Version = "0.1.0"

// Client marks X Chat conversations read. It is safe for concurrent use; make one and share it.
type Client struct {
	baseURL          string // with a trailing slash; see parseBaseURL
	httpClient       *http.Client
	tokens           oauth2.TokenSource
	authorize        gen.RequestEditorFn
	userAgent        string
	userAgentHeader  []string // {userAgent}
	maxRetries       int
	maxRateLimitWait time.Duration
	backoffMin       time.Duration
	backoffMax       time.Duration
	maxResponseBytes int64
	logger           *slog.Logger
}

// MarkReadResult is X's confirmation that a conversation was marked read.
type MarkReadResult struct {
	// Success is true: X confirmed the mark (data.success). Otherwise the call returns an *APIError.
	Success bool
	// Problems are errors X reported beside the confirmation (a partial success).
	Problems []Problem
	// RateLimit is what the response's rate-limit headers said.
	RateLimit RateLimit
	// Attempts is how many requests the call made, retries included.
	Attempts int
}

// NewClient returns a Client configured by opts. It needs WithToken or WithTokenSource.
func NewClient(opts ...Option) (*Client, error) {
	c := &Client{
		userAgent:        "markread-go/" + Version,
		maxRetries:       DefaultMaxRetries,
		maxRateLimitWait: DefaultMaxRateLimitWait,
		backoffMin:       defaultBackoffMin,
		backoffMax:       defaultBackoffMax,
		maxResponseBytes: DefaultMaxResponseBytes,
	}
	base, err := parseBaseURL(DefaultBaseURL)
	if err != nil {
		return nil, err
	}
	c.baseURL = base
	for _, opt := range opts {
		if opt == nil {
			return nil, errors.New("markread: NewClient: nil Option")
		}
		if err := opt(c); err != nil {
			return nil, fmt.Errorf("markread: NewClient: %w", err)
		}
	}
	if c.tokens == nil {
		return nil, errors.New("markread: NewClient: no credentials; use WithToken or WithTokenSource with an OAuth 2.0 user access token")
	}
	c.authorize = AuthEditor(c.tokens)
	c.userAgentHeader = []string{c.userAgent}
	if c.httpClient == nil {
		c.httpClient = defaultHTTPClient()
	} else {
		// A copy, so that the caller's client is not changed by the redirect guard.
		hc := *c.httpClient
		c.httpClient = &hc
	}
	c.httpClient.CheckRedirect = redirectPolicy(c.httpClient.CheckRedirect)
	return c, nil
}

// String describes the client without its credentials; %v, %+v and %#v print the same.
func (c *Client) String() string {
	return fmt.Sprintf("api.Client{baseURL: %q, maxRetries: %d}", c.baseURL, c.maxRetries)
}

// GoString keeps %#v from printing the token source.
func (c *Client) GoString() string { return c.String() }

// Format keeps %+v from printing the token source.
func (c *Client) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// MarkConversationRead tells X that the authenticated user has read conversationID up to and including
// the message with sequence ID seenUntilSequenceID.
//
// conversationID must match X's pattern (see ValidateConversationID; convert the "a:b" form of X Chat
// events with NormalizeConversationID) and seenUntilSequenceID must not be empty: otherwise the error wraps
// ErrInvalidConversationID or ErrInvalidSequenceID and nothing is sent.
//
// Transport errors, 5xx and 429 are retried (see WithMaxRetries and WithMaxRateLimitWait). X's refusal
// comes back as an *APIError; a 429 also matches errors.Is(err, ErrRateLimited). When ctx ends, the error
// matches errors.Is(err, ctx.Err()).
func (c *Client) MarkConversationRead(ctx context.Context, conversationID, seenUntilSequenceID string) (*MarkReadResult, error) {
	return c.markRead(ctx, conversationID, seenUntilSequenceID, callOptions{maxRateLimitWait: c.maxRateLimitWait})
}

// callOptions adjust one call for the Marker.
type callOptions struct {
	// maxRateLimitWait bounds waiting out a rate limit. The Marker passes 0: it holds every conversation
	// itself when X says the user's limit is spent.
	maxRateLimitWait time.Duration
	// observe, when set, is told about every request the call sends, retries included, once its answer
	// (or transport error) is in.
	observe func(attemptOutcome)
}

// attemptOutcome is what one request of a call came to.
type attemptOutcome struct {
	status    int       // the HTTP status; 0 when no answer arrived
	rateLimit RateLimit // what the answer's rate-limit headers said
}

func (c *Client) markRead(ctx context.Context, conversationID, seenUntilSequenceID string, call callOptions) (*MarkReadResult, error) {
	maxRateLimitWait := call.maxRateLimitWait
	if err := ValidateConversationID(conversationID); err != nil {
		return nil, err
	}
	if err := validateSequenceID(seenUntilSequenceID); err != nil {
		return nil, err
	}
	body := gen.MarkChatConversationReadJSONRequestBody{SeenUntilSequenceID: seenUntilSequenceID}
	for attempt := 1; ; attempt++ {
		res, err := c.send(ctx, conversationID, body, call.observe)
		if err == nil {
			res.Attempts = attempt
			return res, nil
		}
		var apiErr *APIError
		if errors.As(err, &apiErr) {
			apiErr.Attempts = attempt
		}
		if ctx.Err() != nil {
			// Keep what X said too: a 429 that arrived as the context ended still matters to the caller.
			return nil, fmt.Errorf("markread: %w (after %s): %w", ctx.Err(), attemptsText(attempt), err)
		}
		if apiErr == nil {
			err = withAttempts(err, attempt)
		}
		wait, ok := c.retryWait(ctx, attempt, maxRateLimitWait, err, apiErr)
		if !ok {
			return nil, err
		}
		if c.logger != nil {
			c.logRetry(ctx, attempt, wait, err, apiErr)
		}
		if ctxErr := sleep(ctx, wait); ctxErr != nil {
			return nil, fmt.Errorf("markread: %w while waiting to retry; last error: %w", ctxErr, err)
		}
	}
}

// withAttempts adds the number of attempts to an error that is not an *APIError (whose message has it),
// and this package's prefix where the error does not have it yet.
func withAttempts(err error, attempts int) error {
	if strings.HasPrefix(err.Error(), "markread: ") {
		return fmt.Errorf("%w (after %s)", err, attemptsText(attempts))
	}
	return fmt.Errorf("markread: %w (after %s)", err, attemptsText(attempts))
}

// errNotRetryable marks failures that happen before anything is sent, or that a retry cannot mend.
type errNotRetryable struct{ err error }

func (e errNotRetryable) Error() string { return e.err.Error() }
func (e errNotRetryable) Unwrap() error { return e.err }

// send makes one request and turns the response into a result or an error.
func (c *Client) send(ctx context.Context, conversationID string, body gen.MarkChatConversationReadJSONRequestBody, observe func(attemptOutcome)) (*MarkReadResult, error) {
	// The generated builder spells the path and encodes the body, so regenerating changes what is sent.
	req, err := gen.NewMarkChatConversationReadRequest(c.baseURL, conversationID, body)
	if err != nil {
		return nil, errNotRetryable{fmt.Errorf("building the request: %w", err)}
	}
	req = req.WithContext(ctx)
	if err := c.authorize(ctx, req); err != nil {
		return nil, errNotRetryable{err}
	}
	req.Header["User-Agent"] = c.userAgentHeader // shared and never written to: saves an allocation per call

	// The credential itself, whatever its type ("Bearer <token>"): what must never be shown.
	_, token, _ := strings.Cut(req.Header.Get("Authorization"), " ")
	resp, err := c.httpClient.Do(req)
	if err != nil {
		if observe != nil {
			observe(attemptOutcome{})
		}
		return nil, redactError(err, token)
	}
	if observe != nil {
		observe(attemptOutcome{status: resp.StatusCode, rateLimit: parseRateLimit(resp.Header)})
	}
	res, err := c.readResponse(resp, token)
	if err != nil {
		return nil, redactError(err, token)
	}
	return res, nil
}

// canonicalSuccess is the body X sends for a plain success.
var canonicalSuccess = []byte(`{"data":{"success":true}}`)

// readResponse reads and closes resp's body and turns the response into a result or an error, branching
// on the status code first: the content type X sends does not always match its definition.
// token is the request's credential, scrubbed from anything that could reach an error message.
func (c *Client) readResponse(resp *http.Response, token string) (*MarkReadResult, error) {
	body, err := readBody(resp.Body, resp.ContentLength, c.maxResponseBytes)
	if err != nil {
		if errors.Is(err, ErrResponseTooLarge) {
			return nil, errNotRetryable{fmt.Errorf("%w (HTTP %d)", err, resp.StatusCode)}
		}
		return nil, fmt.Errorf("HTTP %d: reading the response: %w", resp.StatusCode, err)
	}
	rl := parseRateLimit(resp.Header)

	if resp.StatusCode == http.StatusOK {
		if bytes.Equal(body, canonicalSuccess) {
			return &MarkReadResult{Success: true, RateLimit: rl}, nil // X's usual answer, without a decode
		}
		// A partial success or a failure: the problems' text may be shown, so scrub it first. data and
		// errors are decoded apart, so that a malformed errors member cannot hide X's confirmation.
		body = redactToken(body, token)
		var payload struct {
			Data   *gen.MarkChatConversationReadResponseData `json:"data"`
			Errors json.RawMessage                           `json:"errors"`
		}
		if json.Unmarshal(body, &payload) != nil {
			return nil, &APIError{StatusCode: resp.StatusCode, Body: excerpt(body), RateLimit: rl, received: time.Now()}
		}
		problems := decodeProblemList(payload.Errors)
		if payload.Data != nil && payload.Data.Success {
			return &MarkReadResult{Success: true, Problems: problems, RateLimit: rl}, nil
		}
		return nil, &APIError{StatusCode: resp.StatusCode, Problems: problems, RateLimit: rl, received: time.Now()}
	}

	body = redactToken(body, token)
	received := time.Now() // the origin of Retry-After; read only on this path, to keep success cheap
	apiErr := &APIError{
		StatusCode: resp.StatusCode,
		RateLimit:  rl,
		RetryAfter: retryAfter(resp.Header, received),
		received:   received,
	}
	if problems, ok := decodeProblems(body); ok {
		apiErr.Problems = problems
	} else {
		apiErr.Body = excerpt(body)
	}
	return nil, apiErr
}

// readBody reads at most limit bytes and closes the body. Reading to the end lets the connection be
// reused; a body over the limit is not drained, and its connection is dropped instead. The buffer is sized
// from Content-Length when the server sends it, so X's tiny answers cost one small allocation.
func readBody(body io.ReadCloser, contentLength, limit int64) ([]byte, error) {
	defer func() { _ = body.Close() }()
	size := int64(512)
	if contentLength >= 0 && contentLength < limit {
		size = contentLength + 1 // room to see EOF without growing
	}
	buf := make([]byte, 0, size)
	for {
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, fmt.Errorf("%w: more than %d bytes", ErrResponseTooLarge, limit)
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, len(buf)) // doubling: at most about twice the limit is ever held
		}
	}
}

// decodeProblems reads the problems of an error body in any of X's shapes: an RFC 7807 object, an object
// with an "errors" array (beside a top-level problem or not), or {"code", "message"}. It reports false when
// the body holds none of them.
func decodeProblems(body []byte) ([]Problem, bool) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, false
	}
	var top Problem
	if json.Unmarshal(body, &top) != nil {
		return nil, false
	}
	var problems []Problem
	list, hasList := top.Extra["errors"]
	delete(top.Extra, "errors")
	if len(top.Extra) == 0 {
		top.Extra = nil
	}
	if !top.isZero() {
		problems = append(problems, top)
	}
	if hasList {
		problems = append(problems, decodeProblemList(list)...)
	}
	return problems, len(problems) > 0
}

// decodeProblemList decodes an "errors" member leniently: an entry that is not a problem object, or a
// member that is not a list, becomes a Problem whose Detail quotes it, so that nothing X said is dropped.
func decodeProblemList(raw json.RawMessage) []Problem {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	var entries []json.RawMessage
	if json.Unmarshal(raw, &entries) != nil {
		return []Problem{{Detail: "undecodable errors member: " + excerpt(raw)}}
	}
	problems := make([]Problem, 0, len(entries))
	for _, entry := range entries {
		var p Problem
		if json.Unmarshal(entry, &p) != nil {
			p = Problem{Detail: "undecodable error entry: " + excerpt(entry)}
		}
		problems = append(problems, p)
	}
	return problems
}

// redactToken removes the bearer token from a body before any of it can reach an error message, in case a
// broken or hostile server echoes the request's headers.
func redactToken(body []byte, token string) []byte {
	if token == "" || !bytes.Contains(body, []byte(token)) {
		return body
	}
	return bytes.ReplaceAll(body, []byte(token), []byte(redacted))
}

// redactedError carries an error whose text held the access token, with the token replaced. A hostile
// server can put the token anywhere it likes: in a status line that net/http quotes in its error, or
// JSON-escaped in a problem's text, past the raw-body scrub.
type redactedError struct {
	err  error
	text string
}

func (e *redactedError) Error() string    { return e.text }
func (e *redactedError) GoString() string { return strconv.Quote(e.text) }
func (e *redactedError) Unwrap() error    { return e.err }

// redactError hides the bearer token from err's text. For an *APIError it scrubs the decoded problems
// in place, so that errors.As still finds it.
func redactError(err error, token string) error {
	if token == "" {
		return err
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		for i := range apiErr.Problems {
			apiErr.Problems[i].redact(token)
		}
		apiErr.Body = strings.ReplaceAll(apiErr.Body, token, redacted)
	}
	if text := err.Error(); strings.Contains(text, token) {
		return &redactedError{err: err, text: strings.ReplaceAll(text, token, redacted)}
	}
	return err
}

// retryWait decides whether a failed attempt is retried, and after how long.
func (c *Client) retryWait(ctx context.Context, attempt int, maxRateLimitWait time.Duration, err error, apiErr *APIError) (time.Duration, bool) {
	if attempt > c.maxRetries {
		return 0, false
	}
	var notRetryable errNotRetryable
	if errors.As(err, &notRetryable) {
		return 0, false
	}
	if apiErr != nil {
		switch {
		case apiErr.StatusCode == http.StatusTooManyRequests,
			apiErr.StatusCode == http.StatusServiceUnavailable && apiErr.RetryAfter > 0:
			if at := apiErr.RetryAt(); at.After(time.Now()) {
				// X named the moment: wait for it if the caller allows, else hand the error back at once.
				wait := time.Until(at)
				if wait > maxRateLimitWait || !fitsDeadline(ctx, wait) {
					return 0, false
				}
				return wait, true
			}
			if maxRateLimitWait == 0 {
				return 0, false // the caller waits out rate limits itself
			}
			// No usable reset (absent, garbage, or already past by our clock): back off instead.
		case apiErr.StatusCode >= 500:
		default:
			return 0, false
		}
	}
	wait := c.backoff(attempt)
	return wait, fitsDeadline(ctx, wait)
}

// backoff is the capped exponential delay before retry number attempt, with "equal jitter": half fixed,
// half random, so that many clients failing together do not retry together.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.backoffMax
	if shift := attempt - 1; shift < 30 && c.backoffMin<<shift < c.backoffMax {
		d = c.backoffMin << shift
	}
	return d/2 + rand.N(d/2+1)
}

// fitsDeadline reports whether waiting for d still leaves the context alive.
func fitsDeadline(ctx context.Context, d time.Duration) bool {
	deadline, ok := ctx.Deadline()
	return !ok || time.Now().Add(d).Before(deadline)
}

// sleep waits for d or until ctx ends, whichever is first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Client) logRetry(ctx context.Context, attempt int, wait time.Duration, err error, apiErr *APIError) {
	attrs := []slog.Attr{slog.Int("attempt", attempt), slog.Duration("wait", wait)}
	msg := "markread: retrying after a transport error"
	if apiErr != nil {
		attrs = append(attrs, slog.Int("status", apiErr.StatusCode))
		msg = "markread: retrying after an HTTP error"
		if at := apiErr.RetryAt(); !at.IsZero() {
			attrs = append(attrs, slog.Time("reset", at))
		}
		if apiErr.StatusCode == http.StatusTooManyRequests {
			msg = "markread: waiting for the rate limit"
		}
	} else {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	c.logger.LogAttrs(ctx, slog.LevelWarn, msg, attrs...)
}
