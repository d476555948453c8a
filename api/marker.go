package api

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/xchat-go/markread/internal/plural"
	"github.com/xchat-go/markread/internal/textsafe"
)

// ErrMarkerClosed matches a call after Close, and a mark Close gave up on.
var ErrMarkerClosed = errors.New("Marker closed")

const (
	DefaultMarkDelay       = 100 * time.Millisecond // how long a mark waits for later ones to coalesce
	DefaultMarkConcurrency = 4                      // sends in flight at once, across conversations
	DefaultMarkRetention   = 15 * time.Minute       // how long an idle conversation is remembered, at least
)

// Marker marks conversations read for a bot: it coalesces each conversation's marks and sends the highest, in the
// background, from a fixed pool of WithMarkConcurrency workers, one single-attempt send per conversation at a time.
// A 429 holds all conversations until X's reset; a transient fault retries after a backoff. Every accepted mark ends
// covered by one X confirmed, or reported as a *MarkError. It is safe for concurrent use; docs/marker.md has more.
type Marker struct {
	client           *Client
	delay, retention time.Duration
	pacing           bool
	onError          func(conversationID, seenUntilSequenceID string, err error)
	ctx              context.Context // the workers' and their sends'; cancelled as Close ends
	cancel           context.CancelFunc
	wake             *time.Timer // wakes the workers when something is due

	mu                                   sync.Mutex
	cond                                 *sync.Cond          // workers, Flush and Close wait on it
	busy                                 map[string]*markKey // pending (workqueue's dirty), in flight (processing) or both
	due                                  keyHeap             // those pending and not in flight
	recent, older                        map[string]string   // idle conversations' confirmed marks: two generations
	pending, inFlight, flushers, workers int
	holds, faultStreak                   int        // 429s without a reset, and transient faults, since a success
	window                               rateWindow // what X's answers said; zero when pacing is off
	holdUntil, backoffUntil, rotateAt    time.Time  // for X's rate limit; after transient faults; retention
	closed, holdLogged                   bool
	notes                                []func() // logging and reporting, for a worker to do outside the lock
	stats                                MarkerStats
	failed                               markErrors // since the last Flush
}

// markKey is a busy conversation. A sequence ID of "" means none: valid ones are never empty.
type markKey struct {
	id, pending, sending string
	sent, done           string // the highest mark X confirmed, and the highest confirmed or failed
	due                  time.Time
	faults               int // transient faults in a row
	lastFault            error
}

// MarkerStats is a snapshot of a Marker's state and of its totals since NewMarker.
type MarkerStats struct {
	Tracked      int       // conversations remembered: busy ones, and idle ones within the retention
	Pending      int       // conversations with a mark waiting to be sent
	InFlight     int       // requests being sent
	Marked       uint64    // marks Mark accepted
	Requests     uint64    // HTTP requests sent
	Confirmed    uint64    // sends X confirmed
	Coalesced    uint64    // accepted marks replaced by a higher one before they were sent, or covered by one
	Failed       uint64    // marks reported as failed
	RateLimited  uint64    // 429 answers
	Retried      uint64    // sends that met a transient fault and kept their mark to try again
	HeldUntil    time.Time // the end of a hold for X's rate limit in force, if any
	BackoffUntil time.Time // the end of a backoff after transient faults in force, if any
}

// MarkError is a mark that failed for good; Err is why (an *APIError, or ErrMarkerClosed's).
type MarkError struct {
	ConversationID, SequenceID string
	Err                        error
}

func (e *MarkError) Error() string {
	return "marking conversation " + quoteInput(e.ConversationID) + " read up to " + quoteInput(e.SequenceID) + ": " + e.Err.Error()
}

func (e *MarkError) Unwrap() error { return e.Err }

// MarkerOption configures a Marker; NewMarker reports a value that cannot work as an error naming it.
type MarkerOption func(*Marker)

// WithMarkDelay sets how long a mark waits for later ones to coalesce (default DefaultMarkDelay); 0 sends at once.
func WithMarkDelay(d time.Duration) MarkerOption { return func(m *Marker) { m.delay = d } }

// WithMarkConcurrency sets how many workers send, and so requests in flight (default DefaultMarkConcurrency).
func WithMarkConcurrency(n int) MarkerOption { return func(m *Marker) { m.workers = n } }

// WithMarkRetention sets how long an idle conversation is remembered: d to 2d (default DefaultMarkRetention).
func WithMarkRetention(d time.Duration) MarkerOption { return func(m *Marker) { m.retention = d } }

// WithMarkPacing turns pacing to X's rate-limit headers on (the default) or off: off, it sends until a 429.
func WithMarkPacing(on bool) MarkerOption { return func(m *Marker) { m.pacing = on } }

// WithMarkErrorHandler sets a function the workers tell of every *MarkError; it must not call Flush or Close.
func WithMarkErrorHandler(handler func(conversationID, seenUntilSequenceID string, err error)) MarkerOption {
	return func(m *Marker) { m.onError = handler }
}

// NewMarker returns a Marker that sends through c, and starts its workers; Close it when done.
func NewMarker(c *Client, opts ...MarkerOption) (*Marker, error) {
	if c == nil {
		return nil, errors.New("NewMarker: nil *Client")
	}
	m := &Marker{client: c, delay: DefaultMarkDelay, retention: DefaultMarkRetention, workers: DefaultMarkConcurrency,
		pacing: true, busy: map[string]*markKey{}, recent: map[string]string{}}
	for i, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("NewMarker: option %d is nil", i+1)
		}
		opt(m)
	}
	switch {
	case m.delay < 0:
		return nil, fmt.Errorf("NewMarker: WithMarkDelay: %v is negative; 0 sends at once", m.delay)
	case m.workers < 1:
		return nil, fmt.Errorf("NewMarker: WithMarkConcurrency: %d is below 1", m.workers)
	case m.retention < 0:
		return nil, fmt.Errorf("NewMarker: WithMarkRetention: %v is negative; 0 forgets a conversation as soon as it is idle", m.retention)
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.cond = sync.NewCond(&m.mu)
	m.wake = time.AfterFunc(time.Hour, m.broadcast)
	m.wake.Stop()
	for range m.workers {
		go m.worker()
	}
	return m, nil
}

// Mark queues the mark of conversationID up to seenUntilSequenceID after checking both; it never waits for the network.
func (m *Marker) Mark(conversationID, seenUntilSequenceID string) error {
	if err := cmp.Or(validateConversationID(conversationID), validateSequenceID(seenUntilSequenceID)); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrMarkerClosed
	}
	m.stats.Marked++
	k := m.busy[conversationID] // the methods below run with m.mu held
	if k == nil {
		k = &markKey{sent: cmp.Or(m.recent[conversationID], m.older[conversationID])}
	}
	if !higher(seenUntilSequenceID, cmp.Or(k.pending, k.sending, k.sent)) { // each is higher than the next
		m.stats.Coalesced++
		return nil
	}
	if k.id == "" {
		k.id = strings.Clone(conversationID) // so that an ID cut from a large buffer does not keep it alive
		m.busy[k.id] = k
		delete(m.recent, k.id)
		delete(m.older, k.id)
	}
	if k.pending != "" {
		m.stats.Coalesced++ // the mark it replaces
	} else {
		k.due = time.Now().Add(m.delay)
		m.pending++
		if k.sending == "" { // else the send's end queues it
			heap.Push(&m.due, k)
			m.cond.Broadcast()
		}
	}
	k.pending = strings.Clone(seenUntilSequenceID)
	return nil
}

// Stats returns the Marker's state and totals.
func (m *Marker) Stats() MarkerStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.stats
	s.Tracked, s.Pending, s.InFlight = len(m.busy)+len(m.recent)+len(m.older), m.pending, m.inFlight
	if time.Until(m.holdUntil) > 0 {
		s.HeldUntil = m.holdUntil
	}
	if time.Until(m.backoffUntil) > 0 {
		s.BackoffUntil = m.backoffUntil
	}
	return s
}

// Flush sends every pending mark without waiting out its delay and waits until all marks accepted before the call
// are confirmed or failed; it returns the failures since the last Flush, joined, or why it stopped waiting (ctx).
func (m *Marker) Flush(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrMarkerClosed
	}
	return m.takeFailures(m.sendPending(ctx, "Flush"))
}

// Close stops accepting marks, flushes and stops the workers; if ctx ends first, it fails the marks not confirmed.
func (m *Marker) Close(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrMarkerClosed
	}
	m.closed = true
	lead := m.sendPending(ctx, "Close")
	m.cancel() // the workers stop; after a give-up, the sends in flight end, or not (a token source may ignore it)
	if lead != nil {
		lead = fmt.Errorf("%w; their marks are reported as failed", lead)
		for _, k := range m.busy {
			cause := fmt.Errorf("%w before X confirmed the mark: %w", ErrMarkerClosed, ctx.Err())
			if k.lastFault != nil {
				cause = fmt.Errorf("%w; its last try failed: %w", cause, k.lastFault)
			}
			for _, seq := range []string{k.sending, k.pending} { // the workers report them after Close returns
				if seq != "" {
					m.fail(k, seq, cause)
				}
			}
			if k.pending = ""; k.sending == "" {
				delete(m.busy, k.id)
			}
		}
		m.due, m.pending = nil, 0
	}
	m.wake.Stop()
	m.cond.Broadcast()
	defer context.AfterFunc(ctx, m.broadcast)()
	for m.workers > 0 && ctx.Err() == nil {
		m.cond.Wait() // for the workers to finish logging and reporting
	}
	if m.workers > 0 && lead == nil {
		lead = fmt.Errorf("Close: %w while the error handler was still running", ctx.Err())
	}
	return m.takeFailures(lead)
}

// sendPending skips the delay and waits until every mark accepted so far is confirmed or failed, or says why not.
func (m *Marker) sendPending(ctx context.Context, op string) error {
	type target struct {
		k   *markKey
		seq string
	}
	wait := make([]target, 0, len(m.busy)) // a snapshot: marks accepted later are not waited for
	for _, k := range m.busy {
		wait = append(wait, target{k, cmp.Or(k.pending, k.sending)})
	}
	m.flushers++
	defer func() { m.flushers-- }()
	m.cond.Broadcast()
	defer context.AfterFunc(ctx, m.broadcast)()
	for len(wait) > 0 && ctx.Err() == nil {
		if higher(wait[0].seq, wait[0].k.done) {
			m.cond.Wait()
		} else {
			wait = wait[1:] // in order, so that a wake costs O(1), not O(len(wait))
		}
	}
	wait = slices.DeleteFunc(wait, func(t target) bool { return !higher(t.seq, t.k.done) })
	if len(wait) == 0 {
		return nil
	}
	return fmt.Errorf("%s: %w with %s still pending", op, ctx.Err(), plural.Count(len(wait), "conversation"))
}

func (m *Marker) broadcast() { m.mu.Lock(); defer m.mu.Unlock(); m.cond.Broadcast() } // for timers and contexts

// worker sends one mark at a time until Close stops it, and runs the notes, outside the lock.
func (m *Marker) worker() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for m.ctx.Err() == nil || len(m.notes) > 0 {
		if k, next := m.take(time.Now()); k != nil {
			m.mu.Unlock()
			res, err := m.client.send(m.ctx, k.id, k.sending)
			m.mu.Lock()
			m.done(k, res, err)
		} else if len(m.notes) == 0 {
			if !next.IsZero() {
				m.wake.Reset(time.Until(next)) // the last worker to wait has the latest view
			}
			m.cond.Wait()
		}
		notes := m.notes
		m.notes = nil
		m.mu.Unlock()
		for _, note := range notes {
			note()
		}
		m.mu.Lock()
	}
	m.workers--
	m.cond.Broadcast()
}

func (m *Marker) note(level slog.Level, msg string, attrs ...slog.Attr) {
	if l := m.client.logger; l != nil {
		m.notes = append(m.notes, func() { l.LogAttrs(context.Background(), level, msg, attrs...) })
	}
}

// take alone decides what is sent when: the first due conversation if a send may start now, else when to look again.
func (m *Marker) take(now time.Time) (*markKey, time.Time) {
	if held := m.holdUntil.After(now); held != m.holdLogged && (!held || m.pending > 0) {
		m.holdLogged = held
		if held {
			m.note(slog.LevelWarn, "markread: Marker holding every conversation for X's rate limit",
				slog.Time("until", m.holdUntil), slog.Int("pending", m.pending))
		} else {
			m.note(slog.LevelInfo, "markread: Marker hold over", slog.Int("pending", m.pending))
		}
	}
	if !m.rotateAt.IsZero() && !now.Before(m.rotateAt) {
		m.older, m.recent = m.recent, map[string]string{}
		m.busy, m.due = maps.Collect(maps.All(m.busy)), slices.Clone(m.due) // rebuilt: maps never shrink, nor do clones
		m.rotateAt = now.Add(m.retention)
	}
	if m.due.Len() == 0 || m.ctx.Err() != nil {
		return nil, m.rotateAt
	}
	if ok, at := pace(m.window, later(m.holdUntil, m.backoffUntil), m.pending, m.inFlight, m.flushers > 0, now); !ok {
		return nil, earliest(m.rotateAt, at)
	}
	if m.flushers == 0 && m.due[0].due.After(now) {
		return nil, earliest(m.rotateAt, m.due[0].due)
	}
	k := heap.Pop(&m.due).(*markKey)
	k.sending, k.pending = k.pending, ""
	m.pending, m.inFlight = m.pending-1, m.inFlight+1 // k moves from one to the other
	m.window.last = now
	return k, time.Time{}
}

// done files the outcome of a send.
func (m *Marker) done(k *markKey, res *MarkReadResult, err error) {
	defer m.cond.Broadcast()
	now := time.Now()
	var apiErr *APIError
	if m.pacing && err == nil {
		m.window = m.window.learn(res.RateLimit, now)
	} else if m.pacing && errors.As(err, &apiErr) {
		m.window = m.window.learn(apiErr.RateLimit, now)
	}
	if m.window.known(now) && m.window.remaining <= 0 {
		m.holdUntil = later(m.holdUntil, m.window.reset) // the limit is per user: every conversation holds
	}
	if !errors.Is(err, ErrNoToken) {
		m.stats.Requests++ // a token source's failure sends nothing
	}
	seq := k.sending
	k.sending = ""
	m.inFlight--
	var again time.Time // when a mark that did not go through is due again
	switch {
	case m.ctx.Err() != nil && !higher(seq, k.done): // Close gave up on it and reported it, whatever X said
	case err == nil:
		m.stats.Confirmed++
		k.sent, k.done, k.faults, k.lastFault = seq, seq, 0, nil
		m.holds, m.faultStreak, m.backoffUntil = 0, 0, time.Time{}
	case errors.Is(err, ErrRateLimited) && errors.As(err, &apiErr):
		m.stats.RateLimited++
		again = now
		if until := apiErr.RetryAt(); until.After(now) {
			m.holdUntil = later(m.holdUntil, earliest(until, now.Add(maxMarkHold)))
		} else if !now.Before(m.holdUntil) { // else the send began before the hold, which covers it
			m.holds++
			m.holdUntil = now.Add(backoff(m.holds, markHoldMin, markHoldMax, rand.Float64()))
		}
	case transient(err):
		m.stats.Retried++
		k.faults, k.lastFault = k.faults+1, err
		m.faultStreak++ // every conversation backs off too: the fault is likely the token source's or the network's
		again = now.Add(backoff(k.faults, markRetryMin, markRetryMax, rand.Float64()))
		m.backoffUntil = later(m.backoffUntil, now.Add(backoff(m.faultStreak, markRetryMin, markRetryMax, rand.Float64())))
		m.note(slog.LevelWarn, "markread: Marker will retry a mark after a transient fault", slog.String("conversation", k.id),
			slog.String("seen_until", seq), slog.Int("faults", k.faults), slog.Time("retry_at", later(k.due, again)),
			slog.String("error", err.Error()))
	default:
		m.fail(k, seq, err)
	}
	if !again.IsZero() && k.pending != "" {
		m.stats.Coalesced++ // the mark that arrived during the send covers this one
	} else if !again.IsZero() {
		k.pending = seq
		m.pending++
	}
	k.due = later(k.due, again)
	if k.pending != "" {
		heap.Push(&m.due, k)
		return
	}
	delete(m.busy, k.id) // idle: only its confirmed mark is remembered
	if k.sent != "" && m.retention > 0 {
		m.recent[k.id] = k.sent
		if m.rotateAt.IsZero() {
			m.rotateAt = now.Add(m.retention)
		}
	}
}

// fail gives up on k's mark seq, keeps the failure for Flush and notes it for the error handler.
func (m *Marker) fail(k *markKey, seq string, err error) {
	f := &MarkError{k.id, seq, err}
	k.done, k.lastFault = seq, nil
	m.stats.Failed++
	if len(m.failed.errs) < 100 { // each may hold X's answer: a bound on memory, not on the handler
		m.failed.errs = append(m.failed.errs, f)
	} else {
		m.failed.more++
	}
	m.note(slog.LevelError, "markread: Marker gave up on a mark", slog.String("conversation", f.ConversationID),
		slog.String("seen_until", f.SequenceID), slog.String("error", err.Error()))
	if m.onError != nil {
		m.notes = append(m.notes, func() { m.onError(f.ConversationID, f.SequenceID, f) })
	}
}

// takeFailures returns lead and the failures kept since the last call, joined.
func (m *Marker) takeFailures(lead error) error {
	failed := m.failed
	m.failed = markErrors{}
	if lead != nil {
		failed.errs = append([]error{lead}, failed.errs...)
	}
	if len(failed.errs) == 0 {
		return nil
	}
	return &failed
}

// markErrors has errors.Join's shape, and a text of one line of at most about 2 KB.
type markErrors struct {
	errs []error // Flush's or Close's own failure first, if any, then each a *MarkError
	more int     // failures not kept
}

func (e *markErrors) Error() string {
	const shown, longest = 4, 400
	parts := make([]string, 0, shown+1)
	for _, err := range e.errs[:min(shown, len(e.errs))] {
		parts = append(parts, textsafe.Cut(textsafe.OneLine(err.Error()), longest))
	}
	if rest := max(len(e.errs)-shown, 0) + e.more; rest > 0 {
		parts = append(parts, "… and "+plural.Count(rest, "more mark")+" not confirmed")
	}
	return strings.Join(parts, "; ")
}

func (e *markErrors) Unwrap() []error { return e.errs }

// The backoffs after a 429 without a reset time and after transient faults; the longest hold (X's longest window).
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
	reset := earliest(rl.Reset, now.Add(maxMarkHold))
	switch {
	case rl.Limit <= 0 || !rl.Reset.After(now): // no window
	case !w.known(now) || reset.After(w.reset):
		return rateWindow{reset: reset, remaining: rl.Remaining}
	case reset.Equal(w.reset):
		w.remaining = min(w.remaining, rl.Remaining)
	}
	return w
}

// pace is the sending policy (docs/marker.md): whether a send may start now, given X's window, a hold, the pending and
// in-flight counts and a Flush (which skips the spreading); if not, when to ask again (zero: when a send ends or a
// mark arrives).
func pace(w rateWindow, hold time.Time, pending, inFlight int, flushing bool, now time.Time) (bool, time.Time) {
	left := w.remaining - inFlight
	switch {
	case now.Before(hold):
		return false, hold
	case !w.known(now):
		return true, time.Time{}
	case w.remaining <= 0:
		return false, w.reset
	case left <= 0:
		return false, time.Time{}
	case flushing || left >= pending || w.last.IsZero():
		return true, time.Time{}
	}
	// The last send started with left+1 requests left: the next one is due a share of what remained then.
	if at := w.last.Add(w.reset.Sub(w.last) / time.Duration(left+1)); now.Before(at) {
		return false, at
	}
	return true, time.Time{}
}

// keyHeap orders conversations by due time; Pop clears the slot it vacates, so that it keeps no conversation alive.
type keyHeap []*markKey

func (h keyHeap) Len() int           { return len(h) }
func (h keyHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h keyHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *keyHeap) Push(x any)        { *h = append(*h, x.(*markKey)) }
func (h *keyHeap) Pop() any {
	k := (*h)[len(*h)-1]
	*h = slices.Delete(*h, len(*h)-1, len(*h))
	return k
}

// higher reports whether sequence ID seq is above other, as unsigned integers of any length; "" is below all.
func higher(seq, other string) bool {
	a, b := strings.TrimLeft(seq, "0"), strings.TrimLeft(other, "0")
	return other == "" || cmp.Or(cmp.Compare(len(a), len(b)), strings.Compare(a, b)) > 0
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
