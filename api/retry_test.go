package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

var defaultPolicy = retryPolicy{
	maxRetries:       DefaultMaxRetries,
	maxRateLimitWait: DefaultMaxRateLimitWait,
	backoffMin:       defaultBackoffMin,
	backoffMax:       defaultBackoffMax,
}

// answer is an attempt's *APIError: status, and the moments its headers named.
func answer(status int, resumeAt, retryAfter time.Time) *APIError {
	return &APIError{StatusCode: status, RateLimit: RateLimit{Reset: resumeAt}, RetryAfter: retryAfter}
}

// TestRetryRule covers every row of the retry table in docs/reliability.md.
func TestRetryRule(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	in := func(d time.Duration) time.Time { return now.Add(d) }
	status := func(code int) error { return answer(code, time.Time{}, time.Time{}) }
	waitingOff := defaultPolicy
	waitingOff.maxRateLimitWait = 0
	noRetries := defaultPolicy
	noRetries.maxRetries = 0
	transportErr := errors.New("connection reset by peer")
	tests := []struct {
		row    string
		policy retryPolicy
		r      attemptResult
		want   time.Duration // with jitter 0: the lower end of the backoff range
		retry  bool
	}{
		{"transport error: backoff", defaultPolicy, attemptResult{attempt: 1, err: transportErr}, 125 * time.Millisecond, true},
		{"transport error, 3rd retry: backoff doubled twice", defaultPolicy, attemptResult{attempt: 3, err: transportErr}, 500 * time.Millisecond, true},
		{"retries used up", defaultPolicy, attemptResult{attempt: 4, err: status(500)}, 0, false},
		{"retries off", noRetries, attemptResult{attempt: 1, err: status(500)}, 0, false},
		{"5xx: backoff", defaultPolicy, attemptResult{attempt: 1, err: status(502)}, 125 * time.Millisecond, true},
		{"token source hiccup: backoff", defaultPolicy, attemptResult{attempt: 1, err: fmt.Errorf("%w: %w", ErrNoToken, transportErr)}, 125 * time.Millisecond, true},
		{"login required: never", defaultPolicy, attemptResult{attempt: 1, err: fmt.Errorf("%w: %w", ErrNoToken, ErrLoginRequired)}, 0, false},
		{"body too large: never", defaultPolicy, attemptResult{attempt: 1, err: fmt.Errorf("HTTP 500: %w", ErrResponseTooLarge)}, 0, false},
		{"refused redirect: never", defaultPolicy, attemptResult{attempt: 1, err: fmt.Errorf("%w: HTTP 302", ErrRedirect)}, 0, false},
		{"200 without success: never", defaultPolicy, attemptResult{attempt: 1, err: status(200)}, 0, false},
		{"other 4xx: never", defaultPolicy, attemptResult{attempt: 1, err: status(401)}, 0, false},
		{"429 with a reset within MaxRateLimitWait: until the reset", defaultPolicy, attemptResult{attempt: 1, err: answer(429, in(3*time.Second), time.Time{})}, 3 * time.Second, true},
		{"429 with a reset beyond MaxRateLimitWait: returned at once", defaultPolicy, attemptResult{attempt: 1, err: answer(429, in(15*time.Minute), time.Time{})}, 0, false},
		{"429 with a reset beyond the deadline: returned at once", defaultPolicy, attemptResult{attempt: 1, err: answer(429, in(3*time.Second), time.Time{}), timeLeft: 2 * time.Second}, 0, false},
		{"429 without a reset: backoff", defaultPolicy, attemptResult{attempt: 1, err: status(429)}, 125 * time.Millisecond, true},
		{"429 with a reset already past: backoff", defaultPolicy, attemptResult{attempt: 1, err: answer(429, in(-time.Hour), time.Time{})}, 125 * time.Millisecond, true},
		{"429 with waiting off: returned at once", waitingOff, attemptResult{attempt: 1, err: answer(429, in(time.Second), time.Time{})}, 0, false},
		{"429 without a reset, waiting off: returned at once", waitingOff, attemptResult{attempt: 1, err: status(429)}, 0, false},
		{"503 with Retry-After: until then", defaultPolicy, attemptResult{attempt: 1, err: answer(503, time.Time{}, in(2*time.Second))}, 2 * time.Second, true},
		{"503 with Retry-After, waiting off: still until then", waitingOff, attemptResult{attempt: 1, err: answer(503, time.Time{}, in(2*time.Second))}, 2 * time.Second, true},
		{"503 with Retry-After beyond both bounds: returned at once", waitingOff, attemptResult{attempt: 1, err: answer(503, time.Time{}, in(time.Minute))}, 0, false},
		{"503 without Retry-After: backoff", waitingOff, attemptResult{attempt: 1, err: status(503)}, 125 * time.Millisecond, true},
		{"503 without Retry-After, a rate-limit reset ahead: backoff", defaultPolicy, attemptResult{attempt: 1, err: answer(503, in(15*time.Minute), time.Time{})}, 125 * time.Millisecond, true},
		{"backoff beyond the deadline: returned at once", defaultPolicy, attemptResult{attempt: 1, err: status(500), timeLeft: 100 * time.Millisecond}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.row, func(t *testing.T) {
			r := tt.r
			r.now = now
			if r.timeLeft == 0 {
				r.timeLeft = noDeadline
			}
			wait, retry := tt.policy.decide(r, 0)
			if wait != tt.want || retry != tt.retry {
				t.Errorf("decide = %v, %v; want %v, %v", wait, retry, tt.want, tt.retry)
			}
		})
	}
}

// TestTransient is the one rule of what may heal by itself, which the Client and the Marker share.
func TestTransient(t *testing.T) {
	refused := func(code string) error {
		return fmt.Errorf("%w: %w", ErrNoToken, &oauth2.RetrieveError{ErrorCode: code})
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"no error", nil, false},
		{"transport error", errors.New("connection reset by peer"), true},
		{"timeout", fmt.Errorf("Post http://x: %w", context.DeadlineExceeded), true},
		{"500", answer(500, time.Time{}, time.Time{}), true},
		{"503", answer(503, time.Time{}, time.Time{}), true},
		{"429", answer(http.StatusTooManyRequests, time.Time{}, time.Time{}), true},
		{"200 not confirmed", answer(200, time.Time{}, time.Time{}), false},
		{"400", answer(400, time.Time{}, time.Time{}), false},
		{"401", answer(401, time.Time{}, time.Time{}), false},
		{"status 999", answer(999, time.Time{}, time.Time{}), false},
		{"redirect refused", fmt.Errorf("%w: HTTP 302", ErrRedirect), false},
		{"body too large", fmt.Errorf("%w: more than 1024 bytes", ErrResponseTooLarge), false},
		{"invalid conversation ID", validateConversationID("x"), false},
		{"invalid sequence ID", validateSequenceID("x"), false},
		{"login required", fmt.Errorf("%w: %w", ErrNoToken, ErrLoginRequired), false},
		{"the app refused", fmt.Errorf("%w: %w", ErrNoToken, ErrClientRefused), false},
		{"token endpoint hiccup", fmt.Errorf("%w: %w", ErrNoToken, errors.New("HTTP 502")), true},
		{"invalid_grant", refused("invalid_grant"), false},
		{"invalid_client", refused("invalid_client"), false},
		{"unauthorized_client", refused("unauthorized_client"), false},
		{"temporarily_unavailable", refused("temporarily_unavailable"), true},
		{"a 401 without a code", fmt.Errorf("%w: %w", ErrNoToken, &oauth2.RetrieveError{Response: &http.Response{StatusCode: 401}}), false},
	}
	for _, tt := range tests {
		if got := transient(tt.err); got != tt.want {
			t.Errorf("%s: transient = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestRetryRuleIsBoundedWhateverTheSettings draws settings and attempts from their whole range, extremes
// included: decide never panics, never waits less than 0, never longer than the settings allow or the
// context has left.
func TestRetryRuleIsBoundedWhateverTheSettings(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	duration := func() time.Duration {
		switch rng.IntN(5) {
		case 0:
			return time.Duration(rng.Int64N(int64(time.Minute)))
		case 1:
			return time.Duration(math.MaxInt64 - rng.Int64N(1000))
		case 2:
			return []time.Duration{0, 1, time.Second, math.MaxInt64/2 + 1, math.MaxInt64}[rng.IntN(5)]
		default:
			return time.Duration(rng.Int64())
		}
	}
	statuses := []int{0, 200, 400, 401, 429, 500, 502, 503, 504, 600}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	moment := func() time.Time {
		switch rng.IntN(4) {
		case 0:
			return time.Time{}
		case 1:
			return time.Unix(253402300799, 0)
		case 2:
			return now.Add(-duration()) // a reset in the past: clock skew, or a hostile header
		}
		return now.Add(duration())
	}
	for range 200_000 {
		p := retryPolicy{maxRetries: rng.IntN(1 << 20), maxRateLimitWait: duration(), backoffMin: 1 + duration()/2}
		p.backoffMax = p.backoffMin + time.Duration(rng.Int64N(int64(math.MaxInt64-p.backoffMin)))
		attempt := 1 + rng.IntN(math.MaxInt32)
		if rng.IntN(8) == 0 {
			attempt = math.MaxInt
		}
		var err error = errors.New("connection reset by peer")
		if st := statuses[rng.IntN(len(statuses))]; st != 0 {
			err = answer(st, moment(), moment())
		}
		r := attemptResult{attempt: attempt, err: err, now: now, timeLeft: duration()}
		wait, retry := p.decide(r, rng.Float64())
		if !retry {
			if wait != 0 {
				t.Fatalf("%+v %+v: no retry but a wait of %v", p, r, wait)
			}
			continue
		}
		bound := max(p.backoffMax, p.maxRateLimitWait)
		if wait < 0 || wait > bound || wait >= r.timeLeft {
			t.Fatalf("%+v %+v: wait %v, want within [0, %v] and before the deadline", p, r, wait, bound)
		}
	}
}

func TestBackoffIsCappedAndJittered(t *testing.T) {
	floor, ceiling := 100*time.Millisecond, time.Second
	seen := map[time.Duration]bool{}
	for n := 1; n <= 70; n++ {
		d := backoff(n, floor, ceiling, rand.Float64())
		upper := min(ceiling, floor<<min(n-1, 20))
		if d < upper/2 || d > upper {
			t.Fatalf("backoff(%d) = %v, want within [%v, %v]", n, d, upper/2, upper)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Errorf("backoff gave only %d distinct delays in 70 draws; want jitter", len(seen))
	}
	// Settings where a naive shift overflows.
	hugeFloor, hugeCeiling := time.Duration(math.MaxInt64/3), time.Duration(math.MaxInt64)
	for n := 1; n <= 64; n++ {
		if d := backoff(n, hugeFloor, hugeCeiling, 0.999999); d <= 0 || d > hugeCeiling {
			t.Fatalf("backoff(%d) with huge settings = %v", n, d)
		}
	}
}

func TestTimeLeft(t *testing.T) {
	now := time.Now()
	if got := timeLeft(context.Background(), now); got != noDeadline {
		t.Errorf("no deadline: %v", got)
	}
	ctx, cancel := context.WithDeadline(context.Background(), now.Add(time.Minute))
	defer cancel()
	if got := timeLeft(ctx, now); got != time.Minute {
		t.Errorf("timeLeft = %v, want 1m", got)
	}
}

func TestRetriesResendTheIdenticalBody(t *testing.T) {
	var requests []string
	fs := newFaultServer(t, func(n int, w http.ResponseWriter, r *http.Request) bool {
		body, _ := io.ReadAll(r.Body)
		requests = append(requests, string(body)+" "+r.Header.Get("Authorization"))
		if n < 3 {
			reply(500, "", "")(w, r)
			return true
		}
		return false
	})
	res, err := fs.client(t).MarkConversationRead(context.Background(), "g5", "77")
	if err != nil || res.Attempts != 3 {
		t.Fatalf("got %+v, %v; want success after 3 attempts", res, err)
	}
	want := `{"seen_until_sequence_id":"77"} Bearer ` + testToken
	if len(requests) != 3 || requests[0] != want || requests[1] != want || requests[2] != want {
		t.Errorf("the 3 attempts sent different requests")
	}
}

func TestOther4xxAreNotRetried(t *testing.T) {
	for _, status := range []int{400, 401, 403, 404, 409, 422} {
		fs := newFaultServer(t, func(n int, w http.ResponseWriter, r *http.Request) bool {
			reply(status, "application/problem+json", `{"type":"about:blank","title":"nope"}`)(w, r)
			return true
		})
		_, err := fs.client(t).MarkConversationRead(context.Background(), "1", "2")
		var apiErr *APIError
		if !errors.As(err, &apiErr) || apiErr.StatusCode != status || fs.requests.Load() != 1 {
			t.Errorf("status %d: got %v after %d requests; want the *APIError after 1", status, err, fs.requests.Load())
		}
	}
}

func TestMaxRetriesZeroMakesOneAttempt(t *testing.T) {
	fs := newFaultServer(t, func(n int, w http.ResponseWriter, r *http.Request) bool {
		reply(500, "", "")(w, r)
		return true
	})
	_, err := fs.client(t, WithMaxRetries(0)).MarkConversationRead(context.Background(), "1", "2")
	if fs.requests.Load() != 1 || err == nil || strings.Contains(err.Error(), "attempt") {
		t.Errorf("got %v after %d requests; want one attempt", err, fs.requests.Load())
	}
}
