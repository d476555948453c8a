package api

import (
	"context"
	"errors"
	"net/http"
	"time"
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
	status  int   // the answer's HTTP status; 0 when none arrived (a transport error)
	err     error // the attempt's error
	// resumeAt is when the answer's rate-limit headers or Retry-After said X accepts calls again
	// (APIError.RetryAt), and retryAfter what Retry-After alone said; zero when they named no time.
	resumeAt   time.Time
	retryAfter time.Time
	now        time.Time
	// timeLeft is how long the call's context has left; noDeadline when it has no deadline.
	timeLeft time.Duration
}

const noDeadline = time.Duration(1<<63 - 1)

// decide is the one retry rule, the README's retry table as a pure function: whether to retry after an
// attempt, and after how long. jitter, in [0, 1), picks the point within the backoff's jitter range.
//
//   - no retries left, an error a retry cannot mend (see errNotRetryable), or a 200 that is not a
//     success: no retry;
//   - a transport error or a 5xx: backoff;
//   - a 503 with Retry-After: wait until then if that is within the longer of MaxRateLimitWait and the
//     backoff's maximum, whatever MaxRateLimitWait is, else no retry;
//   - a 429 naming a reset in the future: wait until then if that is within MaxRateLimitWait, else no
//     retry; a 429 naming no usable reset: backoff, unless MaxRateLimitWait is 0 (waiting is off);
//   - any other status: no retry;
//   - and never a wait that outlives the context.
func (p retryPolicy) decide(r attemptResult, jitter float64) (time.Duration, bool) {
	var notRetryable errNotRetryable
	if r.attempt > p.maxRetries || errors.As(r.err, &notRetryable) {
		return 0, false
	}
	wait := p.backoff(r.attempt, jitter)
	switch {
	case r.status == 0:
	case r.status == http.StatusTooManyRequests:
		if r.resumeAt.After(r.now) {
			wait = r.resumeAt.Sub(r.now)
			if wait > p.maxRateLimitWait {
				return 0, false
			}
		} else if p.maxRateLimitWait == 0 {
			return 0, false // the caller waits out rate limits itself
		}
	case r.status == http.StatusServiceUnavailable && r.retryAfter.After(r.now):
		wait = r.retryAfter.Sub(r.now)
		if wait > max(p.maxRateLimitWait, p.backoffMax) {
			return 0, false
		}
	case r.status >= 500 && r.status <= 599:
	default:
		return 0, false
	}
	if wait >= r.timeLeft {
		return 0, false
	}
	return wait, true
}

// backoff is the capped exponential delay before retry number attempt, with "equal jitter": half fixed,
// half random, so that many clients failing together do not retry together. It never exceeds
// backoffMax and never overflows, whatever the settings.
func (p retryPolicy) backoff(attempt int, jitter float64) time.Duration {
	d := p.backoffMin
	for i := 1; i < attempt && d < p.backoffMax; i++ {
		if d > p.backoffMax/2 {
			d = p.backoffMax
			break
		}
		d *= 2
	}
	d = min(d, p.backoffMax)
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

// errNotRetryable marks failures that a retry cannot mend: a body over the cap, a refused redirect.
type errNotRetryable struct{ err error }

func (e errNotRetryable) Error() string { return e.err.Error() }
func (e errNotRetryable) Unwrap() error { return e.err }
