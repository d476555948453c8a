package api

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

var defaultPolicy = retryPolicy{
	maxRetries:       DefaultMaxRetries,
	maxRateLimitWait: DefaultMaxRateLimitWait,
	backoffMin:       defaultBackoffMin,
	backoffMax:       defaultBackoffMax,
}

// TestRetryRule covers every row of the README's retry table ("Rate limits and retries").
func TestRetryRule(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	in := func(d time.Duration) time.Time { return now.Add(d) }
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
		{"retries used up", defaultPolicy, attemptResult{attempt: 4, status: 500}, 0, false},
		{"retries off", noRetries, attemptResult{attempt: 1, status: 500}, 0, false},
		{"5xx: backoff", defaultPolicy, attemptResult{attempt: 1, status: 502}, 125 * time.Millisecond, true},
		{"nothing sent (token source, building): never", defaultPolicy, attemptResult{attempt: 1, err: errNotRetryable{transportErr}}, 0, false},
		{"body too large: never", defaultPolicy, attemptResult{attempt: 1, status: 500, err: errNotRetryable{ErrResponseTooLarge}}, 0, false},
		{"refused redirect: never", defaultPolicy, attemptResult{attempt: 1, err: errNotRetryable{ErrRedirect}}, 0, false},
		{"200 without success: never", defaultPolicy, attemptResult{attempt: 1, status: 200}, 0, false},
		{"other 4xx: never", defaultPolicy, attemptResult{attempt: 1, status: 401}, 0, false},
		{"429 with a reset within MaxRateLimitWait: until the reset", defaultPolicy, attemptResult{attempt: 1, status: 429, resumeAt: in(3 * time.Second)}, 3 * time.Second, true},
		{"429 with a reset beyond MaxRateLimitWait: returned at once", defaultPolicy, attemptResult{attempt: 1, status: 429, resumeAt: in(15 * time.Minute)}, 0, false},
		{"429 with a reset beyond the deadline: returned at once", defaultPolicy, attemptResult{attempt: 1, status: 429, resumeAt: in(3 * time.Second), timeLeft: 2 * time.Second}, 0, false},
		{"429 without a reset: backoff", defaultPolicy, attemptResult{attempt: 1, status: 429}, 125 * time.Millisecond, true},
		{"429 with a reset already past: backoff", defaultPolicy, attemptResult{attempt: 1, status: 429, resumeAt: in(-time.Hour)}, 125 * time.Millisecond, true},
		{"429 with waiting off: returned at once", waitingOff, attemptResult{attempt: 1, status: 429, resumeAt: in(time.Second)}, 0, false},
		{"429 without a reset, waiting off: returned at once", waitingOff, attemptResult{attempt: 1, status: 429}, 0, false},
		{"503 with Retry-After: until then", defaultPolicy, attemptResult{attempt: 1, status: 503, retryAfter: in(2 * time.Second)}, 2 * time.Second, true},
		{"503 with Retry-After, waiting off: still until then", waitingOff, attemptResult{attempt: 1, status: 503, retryAfter: in(2 * time.Second)}, 2 * time.Second, true},
		{"503 with Retry-After beyond both bounds: returned at once", waitingOff, attemptResult{attempt: 1, status: 503, retryAfter: in(time.Minute)}, 0, false},
		{"503 without Retry-After: backoff", waitingOff, attemptResult{attempt: 1, status: 503}, 125 * time.Millisecond, true},
		{"503 without Retry-After, a rate-limit reset ahead: backoff", defaultPolicy, attemptResult{attempt: 1, status: 503, resumeAt: in(15 * time.Minute)}, 125 * time.Millisecond, true},
		{"backoff beyond the deadline: returned at once", defaultPolicy, attemptResult{attempt: 1, status: 500, timeLeft: 100 * time.Millisecond}, 0, false},
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

// TestRetryRuleIsBoundedWhateverTheSettings draws settings and attempts from their whole range: decide
// never panics, never waits less than 0, never longer than the settings allow or the context has left.
func TestRetryRuleIsBoundedWhateverTheSettings(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	duration := func() time.Duration {
		switch rng.IntN(4) {
		case 0:
			return time.Duration(rng.Int64N(int64(time.Minute)))
		case 1:
			return time.Duration(math.MaxInt64 - rng.Int64N(1000))
		default:
			return time.Duration(rng.Int64())
		}
	}
	statuses := []int{0, 200, 400, 401, 429, 500, 502, 503, 504}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for range 200_000 {
		p := retryPolicy{maxRetries: rng.IntN(1 << 20), maxRateLimitWait: duration(), backoffMin: 1 + duration()/2}
		p.backoffMax = p.backoffMin + time.Duration(rng.Int64N(int64(math.MaxInt64-p.backoffMin)))
		r := attemptResult{
			attempt:  1 + rng.IntN(math.MaxInt32),
			status:   statuses[rng.IntN(len(statuses))],
			now:      now,
			timeLeft: duration(),
		}
		moment := func() time.Time {
			d := duration()
			if rng.IntN(2) == 0 {
				d = -d // a reset in the past: clock skew, or a hostile header
			}
			return now.Add(d)
		}
		if rng.IntN(2) == 0 {
			r.resumeAt = moment()
		}
		if rng.IntN(2) == 0 {
			r.retryAfter = moment()
		}
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
	p := retryPolicy{backoffMin: 100 * time.Millisecond, backoffMax: time.Second}
	seen := map[time.Duration]bool{}
	for attempt := 1; attempt <= 70; attempt++ {
		d := p.backoff(attempt, rand.Float64())
		ceiling := min(p.backoffMax, p.backoffMin<<min(attempt-1, 20))
		if d < ceiling/2 || d > ceiling {
			t.Fatalf("backoff(%d) = %v, want within [%v, %v]", attempt, d, ceiling/2, ceiling)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Errorf("backoff gave only %d distinct delays in 70 draws; want jitter", len(seen))
	}
	// The settings that made the old shift overflow and rand.N panic.
	huge := retryPolicy{backoffMin: time.Duration(math.MaxInt64 / 3), backoffMax: time.Duration(math.MaxInt64)}
	for attempt := 1; attempt <= 64; attempt++ {
		if d := huge.backoff(attempt, 0.999999); d <= 0 || d > huge.backoffMax {
			t.Fatalf("backoff(%d) with huge settings = %v", attempt, d)
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
