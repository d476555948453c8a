package api

import (
	"net/http"
	"strconv"
	"time"
)

// RateLimit is what X's rate-limit headers said: the main window (x-rate-limit-*) and, on some answers,
// the user's and the app's 24-hour windows. A field is zero when its header is absent or unreadable.
type RateLimit struct {
	Limit, Remaining                   int
	Reset                              time.Time // when the window starts over
	UserDailyLimit, UserDailyRemaining int
	UserDailyReset                     time.Time
	AppDailyLimit, AppDailyRemaining   int
	AppDailyReset                      time.Time
}

// Header names in canonical form, so that they index http.Header directly without allocating.
const (
	headerLimit     = "X-Rate-Limit-Limit"
	headerRemaining = "X-Rate-Limit-Remaining"
	headerReset     = "X-Rate-Limit-Reset"
	headerRetry     = "Retry-After"
)

// parseRateLimit reads the rate-limit headers of any response.
func parseRateLimit(h http.Header) RateLimit {
	return RateLimit{
		Limit:              headerInt(h, headerLimit),
		Remaining:          headerInt(h, headerRemaining),
		Reset:              headerUnix(h, headerReset),
		UserDailyLimit:     headerInt(h, "X-User-Limit-24hour-Limit"),
		UserDailyRemaining: headerInt(h, "X-User-Limit-24hour-Remaining"),
		UserDailyReset:     headerUnix(h, "X-User-Limit-24hour-Reset"),
		AppDailyLimit:      headerInt(h, "X-App-Limit-24hour-Limit"),
		AppDailyRemaining:  headerInt(h, "X-App-Limit-24hour-Remaining"),
		AppDailyReset:      headerUnix(h, "X-App-Limit-24hour-Reset"),
	}
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

// retryAfter reads a Retry-After header in either of its forms (seconds, or an HTTP date) as a moment,
// counting seconds from now. It returns zero when the header is absent, garbage, not in the future, or
// more than a year away.
func retryAfter(h http.Header, now time.Time) time.Time {
	v := h[headerRetry]
	if len(v) == 0 {
		return time.Time{}
	}
	const year = 365 * 24 * time.Hour
	if secs, err := strconv.ParseInt(v[0], 10, 64); err == nil {
		if secs <= 0 || secs > int64(year/time.Second) {
			return time.Time{}
		}
		return now.Add(time.Duration(secs) * time.Second)
	}
	if t, err := http.ParseTime(v[0]); err == nil && t.After(now) && t.Sub(now) <= year {
		return t
	}
	return time.Time{}
}

// resumeAt is the moment X says the caller may send again: the latest reset among the windows that are
// used up, or the main window's reset when none says so (X answers 429 with remaining > 0 at times).
// It is zero when the headers give no moment.
func (rl RateLimit) resumeAt() time.Time {
	var at time.Time
	for _, w := range [...]struct {
		remaining int
		reset     time.Time
	}{
		{rl.Remaining, rl.Reset},
		{rl.UserDailyRemaining, rl.UserDailyReset},
		{rl.AppDailyRemaining, rl.AppDailyReset},
	} {
		if w.remaining == 0 && w.reset.After(at) {
			at = w.reset
		}
	}
	if at.IsZero() {
		return rl.Reset
	}
	return at
}
