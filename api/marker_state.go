package api

import (
	"cmp"
	"strings"
	"time"
)

// The backoffs after a 429 without a reset time and after transient faults, and the longest hold a reset
// time may cause (X's longest window is a day).
const (
	markHoldMin, markHoldMax   = time.Second, time.Minute
	markRetryMin, markRetryMax = time.Second, 5 * time.Minute
	maxMarkHold                = 24 * time.Hour
)

// rateWindow is what the answers said of X's current rate-limit window.
type rateWindow struct {
	reset     time.Time // when the window starts over; zero when unknown
	remaining int       // the lowest count of requests left that an answer gave
	last      time.Time // when the last send in this window started
}

func (w rateWindow) known(now time.Time) bool { return now.Before(w.reset) }

// learn returns the window after an answer's headers: the newest window's lowest count, as answers
// overtake each other, and a reset a day away at most, so that a hostile one cannot stall the Marker.
func (w rateWindow) learn(rl RateLimit, now time.Time) rateWindow {
	if rl.Limit <= 0 || !rl.Reset.After(now) {
		return w
	}
	reset := earliest(rl.Reset, now.Add(maxMarkHold))
	switch {
	case !w.known(now) || reset.After(w.reset):
		return rateWindow{reset: reset, remaining: rl.Remaining}
	case reset.Equal(w.reset):
		w.remaining = min(w.remaining, rl.Remaining)
	}
	return w
}

// pace is the sending policy (docs/marker.md): whether one more send may start now, given X's window, a
// hold or backoff until hold, the conversations pending, the sends in flight and whether a Flush skips the
// spreading; if not, when to ask again (zero: when a send ends or a mark arrives).
func pace(w rateWindow, hold time.Time, pending, inFlight int, flushing bool, now time.Time) (bool, time.Time) {
	switch {
	case now.Before(hold):
		return false, hold
	case !w.known(now):
		return true, time.Time{}
	case w.remaining <= 0:
		return false, w.reset
	}
	left := w.remaining - inFlight
	switch {
	case left <= 0:
		return false, time.Time{}
	case flushing || left >= pending || w.last.IsZero():
		return true, time.Time{}
	}
	// The last send started with left+1 requests left: the next one is due a share of what remained then.
	at := w.last.Add(w.reset.Sub(w.last) / time.Duration(left+1))
	if now.Before(at) {
		return false, at
	}
	return true, time.Time{}
}

// keyHeap orders conversations by due time: with one delay for all, the oldest pending comes first.
type keyHeap []*markKey

func (h keyHeap) Len() int           { return len(h) }
func (h keyHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h keyHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *keyHeap) Push(x any)        { *h = append(*h, x.(*markKey)) }
func (h *keyHeap) Pop() any {
	old := *h
	k := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return k
}

// compareSeq compares sequence IDs as unsigned integers of any length.
func compareSeq(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	return cmp.Or(cmp.Compare(len(a), len(b)), strings.Compare(a, b))
}

// higher reports whether seq is above than; "" (no mark) is below everything.
func higher(seq, than string) bool {
	return than == "" || compareSeq(seq, than) > 0
}

// earliest returns the earlier of two times, where zero means none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
