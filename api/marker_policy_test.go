package api

import (
	"testing"
	"time"
)

// TestPace covers every row of pace's rule, the Marker's sending policy.
func TestPace(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	in := func(d time.Duration) time.Time { return now.Add(d) }
	window := func(remaining int, reset, last time.Time) rateWindow {
		return rateWindow{reset: reset, remaining: remaining, last: last}
	}
	tests := []struct {
		row               string
		w                 rateWindow
		hold              time.Time
		pending, inFlight int
		flushing          bool
		ok                bool
		at                time.Time
	}{
		{row: "nothing known: send", pending: 5, ok: true},
		{row: "a hold in force: not before its end", hold: in(time.Second), pending: 1, at: in(time.Second)},
		{row: "a hold over: send", hold: in(-time.Second), pending: 1, ok: true},
		{row: "a hold beats a flush", hold: in(time.Second), pending: 1, flushing: true, at: in(time.Second)},
		{row: "a window over: unknown, send", w: window(0, in(-time.Second), time.Time{}), pending: 9, ok: true},
		{row: "no requests left: not before the reset", w: window(0, in(time.Minute), time.Time{}), pending: 1, at: in(time.Minute)},
		{row: "no requests left beats a flush", w: window(0, in(time.Minute), time.Time{}), pending: 1, flushing: true, at: in(time.Minute)},
		{row: "those left are in flight: wait for an answer", w: window(2, in(time.Minute), time.Time{}), pending: 1, inFlight: 2},
		{row: "enough for every conversation pending: send", w: window(10, in(time.Minute), in(-time.Millisecond)), pending: 10, inFlight: 0, ok: true},
		{row: "enough once those in flight are counted: send", w: window(12, in(time.Minute), in(-time.Millisecond)), pending: 10, inFlight: 2, ok: true},
		{row: "too few, first send of the window: send", w: window(10, in(time.Minute), time.Time{}), pending: 30, ok: true},
		{row: "too few, a flush: send", w: window(10, in(time.Minute), in(-time.Millisecond)), pending: 30, flushing: true, ok: true},
		// The last send started with 6 left and 60s to go: the next is due 10s after it.
		{row: "too few, spread: the share is up", w: window(5, in(50*time.Second), in(-10*time.Second)), pending: 30, ok: true},
		{row: "too few, spread: not before the share", w: window(5, in(55*time.Second), in(-5*time.Second)), pending: 30, at: in(5 * time.Second)},
		{row: "too few, spread, counting those in flight", w: window(6, in(55*time.Second), in(-5*time.Second)), pending: 30, inFlight: 1, at: in(5 * time.Second)},
	}
	for _, tt := range tests {
		ok, at := pace(tt.w, tt.hold, tt.pending, tt.inFlight, tt.flushing, now)
		if ok != tt.ok || !at.Equal(tt.at) {
			t.Errorf("%s: pace = %v, %v; want %v, %v", tt.row, ok, at.Sub(now), tt.ok, tt.at.Sub(now))
		}
	}
}

// TestRateWindowLearn covers what an answer's rate-limit headers change in what the Marker knows.
func TestRateWindowLearn(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	in := func(d time.Duration) time.Time { return now.Add(d) }
	current := rateWindow{reset: in(time.Minute), remaining: 5, last: in(-time.Second)}
	tests := []struct {
		row  string
		w    rateWindow
		rl   RateLimit
		want rateWindow
	}{
		{"no headers: unchanged", current, RateLimit{}, current},
		{"a reset already past: unchanged", current, RateLimit{Limit: 10, Remaining: 9, Reset: in(-time.Second)}, current},
		{"the first answer: learnt", rateWindow{}, RateLimit{Limit: 10, Remaining: 9, Reset: in(time.Minute)}, rateWindow{reset: in(time.Minute), remaining: 9}},
		{"the same window, fewer left: the lower", current, RateLimit{Limit: 10, Remaining: 3, Reset: in(time.Minute)}, rateWindow{reset: in(time.Minute), remaining: 3, last: in(-time.Second)}},
		{"the same window, an answer overtaken: the lower", current, RateLimit{Limit: 10, Remaining: 7, Reset: in(time.Minute)}, current},
		{"a new window: replaces", current, RateLimit{Limit: 10, Remaining: 9, Reset: in(2 * time.Minute)}, rateWindow{reset: in(2 * time.Minute), remaining: 9}},
		{"an older window: unchanged", current, RateLimit{Limit: 10, Remaining: 0, Reset: in(30 * time.Second)}, current},
		{"a reset years away: a day at most", rateWindow{}, RateLimit{Limit: 10, Remaining: 0, Reset: in(1e6 * time.Hour)}, rateWindow{reset: in(maxMarkHold)}},
	}
	for _, tt := range tests {
		if got := tt.w.learn(tt.rl, now); got != tt.want {
			t.Errorf("%s: learn = %+v, want %+v", tt.row, got, tt.want)
		}
	}
}

func TestHigher(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"9", "10", -1},
		{"10", "10", 0},
		{"010", "10", 0},
		{"0", "000", 0},
		{"19", "91", -1},
		{"99999999999999999999999999", "100000000000000000000000000", -1},
		{"18446744073709551616", "18446744073709551615", 1}, // past uint64
		{"0000000000000000000000000002", "3", -1},
	}
	for _, tt := range tests {
		if got := higher(tt.a, tt.b); got != (tt.want > 0) {
			t.Errorf("higher(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want > 0)
		}
		if got := higher(tt.b, tt.a); got != (tt.want < 0) {
			t.Errorf("higher(%q, %q) = %v, want %v", tt.b, tt.a, got, tt.want < 0)
		}
	}
	if !higher("0", "") {
		t.Error(`higher("0", "") = false: no mark is below every sequence ID`)
	}
}
