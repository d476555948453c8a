package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"golang.org/x/oauth2"
)

// retryPolicy is the Client's retry settings (WithMaxRetries, WithMaxRateLimitWait, WithBackoff).
type retryPolicy struct {
	maxRetries       int
	maxRateLimitWait time.Duration
	backoffMin       time.Duration
	backoffMax       time.Duration
}

// attemptResult is everything the retry rule looks at after one attempt.
type attemptResult struct {
	attempt int   // 1 for the first request of a call
	err     error // the attempt's error
	now     time.Time
	// timeLeft is how long the call's context has left; noDeadline when it has no deadline.
	timeLeft time.Duration
}

const noDeadline = time.Duration(1<<63 - 1)

// decide is the Client's retry rule, the README's retry table as a pure function: whether to retry after
// an attempt, and after how long. jitter, in [0, 1), picks the point within the backoff's jitter range.
//
//   - no retries left, or a failure that is not transient: no retry;
//   - a 503 with Retry-After: wait until then if that is within the longer of MaxRateLimitWait and the
//     backoff's maximum, else no retry;
//   - a 429 naming a reset in the future: wait until then if that is within MaxRateLimitWait, else no
//     retry; a 429 naming no usable reset: backoff, unless MaxRateLimitWait is 0 (waiting is off);
//   - any other transient failure: backoff;
//   - and never a wait that outlives the context.
func (p retryPolicy) decide(r attemptResult, jitter float64) (time.Duration, bool) {
	if r.attempt > p.maxRetries || !transient(r.err) {
		return 0, false
	}
	wait := backoff(r.attempt, p.backoffMin, p.backoffMax, jitter)
	var apiErr *APIError
	switch {
	case !errors.As(r.err, &apiErr):
	case apiErr.StatusCode == http.StatusTooManyRequests:
		if at := apiErr.RetryAt(); at.After(r.now) {
			wait = at.Sub(r.now)
			if wait > p.maxRateLimitWait {
				return 0, false
			}
		} else if p.maxRateLimitWait == 0 {
			return 0, false
		}
	case apiErr.StatusCode == http.StatusServiceUnavailable && apiErr.RetryAfter.After(r.now):
		wait = apiErr.RetryAfter.Sub(r.now)
		if wait > max(p.maxRateLimitWait, p.backoffMax) {
			return 0, false
		}
	}
	if wait >= r.timeLeft {
		return 0, false
	}
	return wait, true
}

// transient reports whether a failed attempt may succeed if repeated: no usable answer, a 5xx or a 429,
// or a token source's failure other than a refusal only a person can mend (see refusal). The Client's
// retry rule and the Marker share it.
func transient(err error) bool {
	var apiErr *APIError
	var retrieve *oauth2.RetrieveError
	switch {
	case err == nil:
		return false
	case errors.As(err, &apiErr):
		return apiErr.StatusCode >= 500 && apiErr.StatusCode <= 599 || apiErr.StatusCode == http.StatusTooManyRequests
	case errors.Is(err, ErrRedirect), errors.Is(err, ErrResponseTooLarge),
		errors.Is(err, ErrInvalidConversationID), errors.Is(err, ErrInvalidSequenceID),
		errors.Is(err, ErrLoginRequired), errors.Is(err, ErrClientRefused):
		return false // the same request meets the same answer
	case errors.As(err, &retrieve):
		return refusal(retrieve) == nil
	}
	return true
}

// refusal is ErrLoginRequired when a token endpoint refused the refresh token (invalid_grant), and
// ErrClientRefused when it refused the app (invalid_client, unauthorized_client, a 401); nil otherwise.
func refusal(retrieve *oauth2.RetrieveError) error {
	switch {
	case retrieve.ErrorCode == "invalid_grant":
		return ErrLoginRequired
	case retrieve.ErrorCode == "invalid_client", retrieve.ErrorCode == "unauthorized_client",
		retrieve.Response != nil && retrieve.Response.StatusCode == http.StatusUnauthorized:
		return ErrClientRefused
	}
	return nil
}

// backoff is the capped exponential delay before retry number n (1 for the first), with "equal jitter":
// half fixed, half random (jitter in [0, 1)), so that many failing together do not retry together. It
// never exceeds ceiling and never overflows. The Client and the Marker share it.
func backoff(n int, floor, ceiling time.Duration, jitter float64) time.Duration {
	d := floor
	for i := 1; i < n && d < ceiling; i++ {
		if d > ceiling/2 {
			d = ceiling
			break
		}
		d *= 2
	}
	d = min(d, ceiling)
	half := d / 2
	return min(half+time.Duration(jitter*float64(d-half)), d) // min: float rounding may add a nanosecond
}

// timeLeft is how long ctx has before its deadline, or noDeadline.
func timeLeft(ctx context.Context, now time.Time) time.Duration {
	deadline, ok := ctx.Deadline()
	if !ok {
		return noDeadline
	}
	return deadline.Sub(now)
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
