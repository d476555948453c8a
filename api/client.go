package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	"github.com/xchat-go/markread/gen"
)

// Version is this library's version, sent in the default User-Agent.
const Version = "0.2.0"

// Client marks X Chat conversations read. It is safe for concurrent use; make one and share it.
type Client struct {
	baseURL          string // with a trailing slash; see parseBaseURL
	httpClient       *http.Client
	authorize        authorizer // a func value, so that no fmt verb reaches the credentials
	oauth1           bool       // authorize signs with OAuth 1.0a, whose signature covers the base URL: see oauth1BaseURL
	userAgent        string
	retry            retryPolicy
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
	// Header is the response's header.
	Header http.Header
	// Attempts is how many requests the call made, retries included.
	Attempts int
}

// NewClient returns a Client configured by opts. It needs credentials: WithToken, WithTokenSource or
// WithOAuth1.
func NewClient(opts ...Option) (*Client, error) {
	c, err := newClient(opts)
	return c, prefixed(err)
}

func newClient(opts []Option) (*Client, error) {
	c := &Client{
		userAgent: "markread-go/" + Version,
		retry: retryPolicy{
			maxRetries:       DefaultMaxRetries,
			maxRateLimitWait: DefaultMaxRateLimitWait,
			backoffMin:       defaultBackoffMin,
			backoffMax:       defaultBackoffMax,
		},
		maxResponseBytes: DefaultMaxResponseBytes,
	}
	base, err := parseBaseURL(DefaultBaseURL)
	if err != nil {
		return nil, err
	}
	c.baseURL = base
	for _, opt := range opts {
		if opt == nil {
			return nil, errors.New("NewClient: nil Option")
		}
		if err := opt(c); err != nil {
			return nil, fmt.Errorf("NewClient: %w", err)
		}
	}
	if c.authorize == nil {
		return nil, errors.New("NewClient: no credentials; use WithToken or WithTokenSource with an OAuth 2.0 user access token, or WithOAuth1")
	}
	if c.oauth1 { // here, once every option is in: WithBaseURL may come after WithOAuth1
		if c.baseURL, err = oauth1BaseURL(c.baseURL); err != nil {
			return nil, fmt.Errorf("NewClient: WithOAuth1: %w", err)
		}
	}
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

// Format prints the client without its credentials, whatever the verb, for a Client and a *Client alike.
func (c Client) Format(f fmt.State, _ rune) {
	_, _ = fmt.Fprintf(f, "api.Client{baseURL: %q, maxRetries: %d}", c.baseURL, c.retry.maxRetries)
}

// MarkConversationRead tells X that the authenticated user has read conversationID up to and including
// the message with sequence ID seenUntilSequenceID.
//
// conversationID must match X's pattern (see ValidateConversationID; convert the "a:b" form of X Chat
// events with NormalizeConversationID) and seenUntilSequenceID must be ASCII digits (see
// ValidateSequenceID): otherwise the error wraps ErrInvalidConversationID or ErrInvalidSequenceID and
// nothing is sent.
//
// Transport errors, 5xx and 429 are retried (see WithMaxRetries and WithMaxRateLimitWait). X's refusal
// comes back as an *APIError; a 429 also matches errors.Is(err, ErrRateLimited). When ctx ends, the error
// matches errors.Is(err, ctx.Err()).
func (c *Client) MarkConversationRead(ctx context.Context, conversationID, seenUntilSequenceID string) (*MarkReadResult, error) {
	res, err := c.markRead(ctx, conversationID, seenUntilSequenceID, callOptions{maxRateLimitWait: c.retry.maxRateLimitWait})
	return res, prefixed(err)
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

// markRead is MarkConversationRead without the package prefix on its errors, for callers inside the
// package that add their own context first.
func (c *Client) markRead(ctx context.Context, conversationID, seenUntilSequenceID string, call callOptions) (*MarkReadResult, error) {
	if c.authorize == nil || c.httpClient == nil {
		return nil, errors.New("the Client was not made by NewClient")
	}
	if err := validateConversationID(conversationID); err != nil {
		return nil, err
	}
	if err := validateSequenceID(seenUntilSequenceID); err != nil {
		return nil, err
	}
	policy := c.retry
	policy.maxRateLimitWait = call.maxRateLimitWait
	body := gen.MarkChatConversationReadJSONRequestBody{SeenUntilSequenceID: seenUntilSequenceID}
	for attempt := 1; ; attempt++ {
		res, status, err := c.send(ctx, conversationID, body, call.observe)
		if err == nil {
			res.Attempts = attempt
			return res, nil
		}
		if notSent := (errNotSent{}); errors.As(err, &notSent) {
			// Nothing went out (a token-source failure, say): nothing to count or retry.
			return nil, notSent.err
		}
		var apiErr *APIError
		if errors.As(err, &apiErr) {
			apiErr.Attempts = attempt
		} else {
			err = &attemptsError{err: err, attempts: attempt}
		}
		if ctx.Err() != nil {
			// Keep what X said too: a 429 that arrived as the context ended still matters to the caller.
			return nil, fmt.Errorf("%w: %w", ctx.Err(), err)
		}
		now := time.Now()
		result := attemptResult{attempt: attempt, status: status, err: err, now: now, timeLeft: timeLeft(ctx, now)}
		if apiErr != nil {
			result.resumeAt, result.retryAfter = apiErr.RetryAt(), apiErr.RetryAfter
		}
		wait, retry := policy.decide(result, rand.Float64())
		if !retry {
			return nil, err
		}
		c.logRetry(ctx, attempt, wait, err, apiErr)
		if ctxErr := sleep(ctx, wait); ctxErr != nil {
			return nil, fmt.Errorf("%w while waiting to retry; last error: %w", ctxErr, err)
		}
	}
}

// errNotSent is a failure before anything went on the wire.
type errNotSent struct{ err error }

func (e errNotSent) Error() string { return e.err.Error() }
func (e errNotSent) Unwrap() error { return e.err }

// send makes one request and turns the answer into a result or an error; status is the answer's HTTP
// status when the error is an *APIError, and 0 otherwise (no answer, or one that could not be read).
func (c *Client) send(ctx context.Context, conversationID string, body gen.MarkChatConversationReadJSONRequestBody, observe func(attemptOutcome)) (res *MarkReadResult, status int, err error) {
	// The generated builder spells the path and encodes the body, so regenerating changes what is sent.
	req, err := gen.NewMarkChatConversationReadRequest(c.baseURL, conversationID, body)
	if err != nil {
		return nil, 0, errNotSent{fmt.Errorf("building the request: %w", err)}
	}
	req = req.WithContext(ctx)
	req.Header.Set("User-Agent", c.userAgent)
	secrets, err := c.authorize(req)
	if err != nil {
		return nil, 0, errNotSent{err}
	}
	scrub := scrubber(secrets)
	resp, err := c.httpClient.Do(req)
	if err != nil {
		if observe != nil {
			observe(attemptOutcome{})
		}
		if redirect := (*redirectError)(nil); errors.As(err, &redirect) {
			return nil, 0, errNotRetryable{scrub.err(redirect)}
		}
		return nil, 0, scrub.err(withoutURL(err))
	}
	if observe != nil {
		observe(attemptOutcome{status: resp.StatusCode, rateLimit: parseRateLimit(resp.Header)})
	}
	res, err = c.readResponse(resp, scrub)
	if apiErr := (*APIError)(nil); err != nil && !errors.As(err, &apiErr) {
		return nil, 0, scrub.err(err) // the answer could not be read: as good as none
	}
	return res, resp.StatusCode, scrub.err(err)
}

// withoutURL replaces the *url.Error around a transport error with one that names only the request's
// origin: after a redirect, its URL is the redirect's target, whose path and query the server chose and
// may have filled with an encoded credential.
func withoutURL(err error) error {
	var urlErr *url.Error
	if !errors.As(err, &urlErr) {
		return err
	}
	origin := "the server"
	if u, parseErr := url.Parse(urlErr.URL); parseErr == nil {
		origin = originOf(u)
	}
	return &transportError{op: urlErr.Op, origin: origin, err: urlErr.Err}
}

// transportError is a request that got no usable answer: "Post http://host:port: <cause>".
type transportError struct {
	op, origin string
	err        error
}

func (e *transportError) Error() string { return e.op + " " + e.origin + ": " + e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// logRetry logs a retry at Warn, when the client has a logger. Nothing secret reaches it: the error has
// been scrubbed, and the rest are numbers and times.
func (c *Client) logRetry(ctx context.Context, attempt int, wait time.Duration, err error, apiErr *APIError) {
	if c.logger == nil {
		return
	}
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
