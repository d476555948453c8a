package api

import (
	"net/http"
	"strconv"
	"time"
)

// RateLimit is what X's x-rate-limit-* headers said about the caller's quota for this endpoint.
// Every field is zero when the headers are absent or unreadable.
type RateLimit struct {
	Limit     int       // requests allowed in the current window (x-rate-limit-limit)
	Remaining int       // requests left in it (x-rate-limit-remaining)
	Reset     time.Time // when the window starts over (x-rate-limit-reset, Unix seconds)

	// UserDaily and AppDaily are X's 24-hour quotas (x-user-limit-24hour-*, x-app-limit-24hour-*), nil
	// when the response does not carry them. A 429 can come from one of them while Remaining is above 0.
	UserDaily *RateLimit
	AppDaily  *RateLimit
}

// Header names in canonical form, so that they index http.Header directly without allocating.
const (
	headerLimit     = "X-Rate-Limit-Limit"
	headerRemaining = "X-Rate-Limit-Remaining"
	headerReset     = "X-Rate-Limit-Reset"
	headerRetry     = "Retry-After"
)

var (
	userDailyHeaders = [3]string{"X-User-Limit-24hour-Limit", "X-User-Limit-24hour-Remaining", "X-User-Limit-24hour-Reset"}
	appDailyHeaders  = [3]string{"X-App-Limit-24hour-Limit", "X-App-Limit-24hour-Remaining", "X-App-Limit-24hour-Reset"}
)

// parseRateLimit reads the rate-limit headers of any response.
func parseRateLimit(h http.Header) RateLimit {
	rl := RateLimit{
		Limit:     headerInt(h, headerLimit),
		Remaining: headerInt(h, headerRemaining),
		Reset:     headerUnix(h, headerReset),
	}
	rl.UserDaily = parseDaily(h, &userDailyHeaders)
	rl.AppDaily = parseDaily(h, &appDailyHeaders)
	return rl
}

func parseDaily(h http.Header, names *[3]string) *RateLimit {
	if len(h[names[0]]) == 0 && len(h[names[1]]) == 0 && len(h[names[2]]) == 0 {
		return nil
	}
	return &RateLimit{Limit: headerInt(h, names[0]), Remaining: headerInt(h, names[1]), Reset: headerUnix(h, names[2])}
}

// headerInt returns a non-negative integer header, or 0 when it is absent or not a number.
func headerInt(h http.Header, name string) int {
	v := h[name]
	if len(v) == 0 {
		return 0
	}
	n, err := strconv.Atoi(v[0])
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// headerUnix returns a Unix-seconds header as a time, or the zero time when it is absent or garbage.
func headerUnix(h http.Header, name string) time.Time {
	v := h[name]
	if len(v) == 0 {
		return time.Time{}
	}
	sec, err := strconv.ParseInt(v[0], 10, 64)
	// Bound it to this side of year 9999: a hostile value must not overflow time arithmetic later.
	if err != nil || sec <= 0 || sec > 253402300799 {
		return time.Time{}
	}
	return time.Unix(sec, 0)
}

// retryAfter reads a Retry-After header in either of its forms (seconds, or an HTTP date), relative to now.
// It returns 0 when the header is absent, garbage, or not in the future.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := h[headerRetry]
	if len(v) == 0 {
		return 0
	}
	if secs, err := strconv.ParseInt(v[0], 10, 64); err == nil {
		if secs <= 0 || secs > 365*24*3600 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v[0]); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// resumeAt is the moment X says the caller may send again: the latest reset among the windows that are
// used up, or the main window's reset when none says so (X answers 429 with remaining > 0 at times).
// It is zero when the headers give no moment.
func (rl RateLimit) resumeAt() time.Time {
	var at time.Time
	for _, w := range [...]*RateLimit{&rl, rl.UserDaily, rl.AppDaily} {
		if w != nil && w.Remaining == 0 && w.Reset.After(at) {
			at = w.Reset
		}
	}
	if at.IsZero() {
		return rl.Reset
	}
	return at
}
