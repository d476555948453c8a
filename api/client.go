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

// Client marks X Chat conversations read. It is safe for concurrent use.
type Client struct {
	baseURL          string   // with a trailing slash; see parseBaseURL
	userAgent        []string // the header's value, shared by every request (a RoundTripper must not change it)
	httpClient       *http.Client
	authorize        authorizer // a func value: see authorizer
	oauth1           bool       // authorize signs with OAuth 1.0a, whose signature covers the base URL
	retry            retryPolicy
	maxResponseBytes int64
	logger           *slog.Logger
}

// MarkReadResult is X's confirmation that a conversation was marked read.
type MarkReadResult struct {
	Success   bool      // always true: otherwise the call returns an *APIError
	Problems  []Problem // what X reported beside the confirmation (a partial success)
	RateLimit RateLimit
	Header    http.Header
	Attempts  int // requests the call made, retries included
}

// NewClient returns a Client; it needs WithToken, WithTokenSource or WithOAuth1.
func NewClient(opts ...Option) (*Client, error) {
	c := &Client{
		baseURL:   DefaultBaseURL + "/",
		userAgent: []string{"markread-go/" + Version},
		retry: retryPolicy{
			maxRetries:       DefaultMaxRetries,
			maxRateLimitWait: DefaultMaxRateLimitWait,
			backoffMin:       defaultBackoffMin,
			backoffMax:       defaultBackoffMax,
		},
		maxResponseBytes: DefaultMaxResponseBytes,
	}
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
		var err error
		if c.baseURL, err = oauth1BaseURL(c.baseURL); err != nil {
			return nil, fmt.Errorf("NewClient: WithOAuth1: %w", err)
		}
	}
	hc := defaultHTTPClient()
	if c.httpClient != nil {
		copied := *c.httpClient // a copy, so that the caller's client keeps its redirect policy
		hc = &copied
	}
	hc.CheckRedirect = redirectPolicy(hc.CheckRedirect)
	c.httpClient = hc
	return c, nil
}

// MarkConversationRead tells X that the user has read conversationID up to and including the message
// seenUntilSequenceID. Invalid IDs are refused before anything is sent (ValidateConversationID,
// ValidateSequenceID). Transport errors, 5xx and 429 are retried (WithMaxRetries, WithMaxRateLimitWait).
// X's refusal is an *APIError; when ctx ends, the error matches ctx.Err().
func (c *Client) MarkConversationRead(ctx context.Context, conversationID, seenUntilSequenceID string) (*MarkReadResult, error) {
	if c.authorize == nil {
		return nil, errors.New("the Client was not made by NewClient")
	}
	if err := validateConversationID(conversationID); err != nil {
		return nil, err
	}
	if err := validateSequenceID(seenUntilSequenceID); err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		res, err := c.send(ctx, conversationID, seenUntilSequenceID)
		if err == nil {
			res.Attempts = attempt
			return res, nil
		}
		if apiErr := (*APIError)(nil); errors.As(err, &apiErr) {
			apiErr.Attempts = attempt
		} else if attempt > 1 {
			err = fmt.Errorf("%w (after %d attempts)", err, attempt)
		}
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			// Keep what X said too: a 429 that arrived as the context ended still matters to the caller.
			return nil, fmt.Errorf("%w: %w", ctxErr, err)
		}
		now := time.Now()
		wait, retry := c.retry.decide(attemptResult{attempt: attempt, err: err, now: now, timeLeft: timeLeft(ctx, now)}, rand.Float64())
		if !retry {
			return nil, err
		}
		c.logRetry(ctx, attempt, wait, err)
		if ctxErr := sleep(ctx, wait); ctxErr != nil {
			return nil, fmt.Errorf("%w while waiting to retry; last error: %w", ctxErr, err)
		}
	}
}

// send makes one request, with no retry, and returns its outcome with the request's credentials
// replaced in whatever the answer brought back. The caller has validated the IDs.
func (c *Client) send(ctx context.Context, conversationID, seenUntilSequenceID string) (*MarkReadResult, error) {
	// The generated builder spells the path and encodes the body, so regenerating changes what is sent.
	req, err := gen.NewMarkChatConversationReadRequest(c.baseURL, conversationID,
		gen.MarkChatConversationReadJSONRequestBody{SeenUntilSequenceID: seenUntilSequenceID})
	if err != nil {
		return nil, fmt.Errorf("building the request: %w", err)
	}
	req = req.WithContext(ctx)
	req.Header["User-Agent"] = c.userAgent
	secrets, err := c.authorize(req)
	if err != nil {
		return nil, err
	}
	resp, err := c.httpClient.Do(req)
	if err != nil {
		return redactOutcome(nil, withoutURL(err), secrets)
	}
	res, err := c.readResponse(resp)
	return redactOutcome(res, err, secrets)
}

// withoutURL names only the request's origin in a transport error: after a redirect, the *url.Error's
// URL is the redirect's target, whose path and query the server chose.
func withoutURL(err error) error {
	var urlErr *url.Error
	if !errors.As(err, &urlErr) {
		return err
	}
	if errors.Is(urlErr.Err, ErrRedirect) {
		return urlErr.Err // it names the redirect's origin
	}
	origin := "the server"
	if u, parseErr := url.Parse(urlErr.URL); parseErr == nil {
		origin = originOf(u)
	}
	return fmt.Errorf("%s %s: %w", urlErr.Op, origin, urlErr.Err)
}

// logRetry logs a retry at Warn, when the client has a logger. The error has been redacted.
func (c *Client) logRetry(ctx context.Context, attempt int, wait time.Duration, err error) {
	if c.logger == nil {
		return
	}
	attrs := []slog.Attr{slog.Int("attempt", attempt), slog.Duration("wait", wait)}
	msg := "markread: retrying after a transport error"
	if apiErr := (*APIError)(nil); errors.As(err, &apiErr) {
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
