package api

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrMarkerClosed is the errors.Is target for Mark, Flush or Close called after Close, and for a mark that
// Close had to give up on.
var ErrMarkerClosed = errors.New("Marker closed")

// Marker defaults, documented in the README.
const (
	DefaultMarkDelay       = 100 * time.Millisecond // how long a mark waits for later ones to coalesce
	DefaultMarkConcurrency = 4                      // sends in flight at once, across conversations
	DefaultMarkRetention   = 15 * time.Minute       // how long an idle conversation is remembered
)

// Marker marks conversations read on behalf of a bot that reads many messages: it coalesces the marks of
// each conversation and sends only the highest, in the background, so that a burst of a hundred messages
// costs one request instead of a hundred. It is safe for concurrent use, and made to run for weeks.
//
// # Coalescing
//
// Mark validates and queues a mark and returns at once. A mark is sent DefaultMarkDelay (see
// WithMarkDelay) after the first of its burst; marks that arrive meanwhile replace it if they are higher.
// Sequence IDs are compared as unsigned decimal integers ("9" < "10", "010" == "10"). A mark not higher
// than one already confirmed by X, in flight, or pending is covered: it is accepted and needs no request.
// At most one request per conversation is in flight at a time, and at most DefaultMarkConcurrency (see
// WithMarkConcurrency) in all.
//
// # Memory
//
// The Marker remembers a conversation's highest confirmed mark for DefaultMarkRetention (see
// WithMarkRetention) after the conversation last became idle (its last mark confirmed, or failed), so that
// late, lower marks are recognised as covered; then it forgets the conversation. Its memory therefore
// follows the conversations active in the last retention period, not every conversation ever seen (about
// 225 bytes each; see BENCHMARKS.md). Forgetting has one cost: a late mark lower than the forgotten one is
// sent again. X does not move a read mark backwards, so this costs a request, not the user's read state.
//
// # X's rate limit
//
// X limits this endpoint per user, that is per access token and so per Client. The Marker reads the
// rate-limit headers of every answer. While the requests left in X's window cover the conversations
// pending, it sends as usual. When they do not, it paces its sends over what is left of the window, oldest
// pending conversation first, so that marks coalesce for longer instead of collecting 429s; when none are
// left it waits for the window's reset. WithMarkPacing(false) turns pacing off.
//
// When a send gets a 429 all the same (X's 24-hour limits, another program using the same token), the
// Marker holds every conversation, not just that one, until the reset time X names (or, without one, for a
// backoff from 1s doubling up to 1 minute), keeping the mark and merging newer ones into it. A 429 is never
// reported as a failure. The Marker's sends do not wait out a 429 inside the Client, whatever its
// WithMaxRateLimitWait: one hold covers every conversation instead.
//
// # Failures
//
// A transient fault keeps the mark: a token-source failure (errors.Is ErrNoToken) other than an OAuth
// refusal that cannot heal, or a transport error or 5xx that outlived the Client's own retries. The mark
// stays pending and is retried after a backoff that doubles from 1s up to 5 minutes, for that
// conversation and, while nothing succeeds, for every conversation; Stats counts these as Retried and the
// Client's logger logs them.
//
// A mark fails only when X refuses it (any other answer: a 4xx other than 429, or a 200 that does not
// confirm), when the token source reports an OAuth error that cannot heal (an *oauth2.RetrieveError with
// error code invalid_grant, invalid_client or unauthorized_client: a person must log in again or fix the
// app's credentials), or when Close gives up on it. A failure is reported to the handler set with
// WithMarkErrorHandler and returned by the next Flush or Close, and the mark is dropped: a later mark for
// the conversation is sent even if it is lower. Every mark Mark accepts is thus either covered by a mark X
// confirmed, equal or higher, or reported as failed.
//
// # Watching it
//
// Stats reports what is remembered, pending and in flight, totals since NewMarker, and the end of a hold
// or backoff in force. With the Client's WithLogger, the Marker logs when a hold starts (its reset time,
// why, and how many conversations are pending) and ends, each transient fault it retries, and each failure
// it reports. Without a logger it logs nothing.
//
// Call Close when done: it sends what is pending and stops the Marker's goroutines.
type Marker struct {
	client      *Client
	logger      *slog.Logger // the Client's; nil logs nothing
	delay       time.Duration
	concurrency int
	retention   time.Duration
	pacing      bool
	onError     func(conversationID, seenUntilSequenceID string, err error)

	ctx    context.Context // the sends' context, cancelled when Close gives up on them
	cancel context.CancelFunc
	wake   chan struct{}  // nudges the dispatcher; capacity 1, so a nudge never blocks
	stop   chan struct{}  // closed by Close to end the dispatcher
	wg     sync.WaitGroup // the dispatcher and every send, up to the moment a send calls the error handler

	mu       sync.Mutex
	entries  map[string]*markEntry
	peak     int                     // the most entries since the map was last rebuilt; maps never shrink
	queue    markQueue               // entries with a pending mark and no send in flight, soonest due first
	inFlight map[*markEntry]struct{} // entries with a send in flight
	pending  int                     // entries with a pending mark, queued or waiting behind a send
	idle     idleList                // entries with nothing pending or in flight, longest idle first
	faults   map[*markEntry]error    // the last transient fault of each entry waiting to retry
	gens     genQueue                // the gens of marks not yet resolved, for Flush
	gen      uint64                  // counts marks that started a pending burst, so Flush knows what came before it
	flushers int                     // Flush and Close calls sending; while > 0 the delay is skipped
	waiters  int                     // calls waiting on changed
	changed  chan struct{}           // closed and replaced when a send ends, to wake waiters
	handlers int                     // error handler calls running
	closed   bool                    // Close was called: Mark refuses
	aborting bool                    // Close's context ended: start no send

	// X's rate limit.
	holdUntil   time.Time     // after a 429, no send starts before this
	holdBackoff time.Duration // the last hold without a reset time; 0 after a success
	holdLogged  bool          // a hold's start was logged and its end is not yet
	window      rateWindow    // what the answers said of X's current window
	unanswered  int           // sends started whose request has no answer yet
	paceNext    time.Time     // while pacing, no send starts before this

	// Transient faults.
	faultStreak  int       // transient faults since the last confirmed send
	backoffUntil time.Time // after a transient fault, no send starts before this

	stats    MarkerStats // the totals; the other fields are filled in by Stats
	failures []error     // failures since the last Flush, at most maxHeldFailures
	dropped  int         // failures beyond maxHeldFailures
	logs     []logRecord // written once the lock is released, so that a slow logger cannot stall Mark
}

type logRecord struct {
	level slog.Level
	msg   string
	attrs []slog.Attr
}

const (
	// A 429 without a usable reset time holds the Marker for a backoff that doubles from
	// markHoldMin to markHoldMax, and starts over after a success.
	markHoldMin = time.Second
	markHoldMax = time.Minute
	// maxMarkHold bounds a reset time named by the server, so that a broken one cannot stall the Marker
	// for years. X's longest window is a day.
	maxMarkHold = 24 * time.Hour
	// A transient fault delays the conversation's next try, and while nothing succeeds every
	// conversation's, by a backoff that doubles from markRetryMin to markRetryMax.
	markRetryMin = time.Second
	markRetryMax = 5 * time.Minute
	// maxHeldFailures bounds the failures kept for Flush between two calls; the rest are counted.
	maxHeldFailures = 64
	// sweepBatch bounds how many idle conversations are forgotten under one hold of the lock, so that
	// forgetting a million does not stall Mark.
	sweepBatch = 1024
	// minRebuild is the map size below which a map is not rebuilt to give memory back.
	minRebuild = 1024
)

// markEntry is one conversation's state. A sequence ID of "" means none: valid ones are never empty.
type markEntry struct {
	id         string
	pending    string    // the highest mark not sent yet
	sending    string    // the mark in flight
	sent       string    // the highest mark X confirmed
	at         time.Time // while pending: when the mark may be sent; while idle: since when it is idle
	pendingGen uint64    // the gen of the oldest mark pending covers
	sendingGen uint64    // the gen of the oldest mark sending covers
	prev, next *markEntry
	faults     int // transient faults in a row
}

// MarkerStats is a snapshot of a Marker's state and of its totals since NewMarker.
type MarkerStats struct {
	// Tracked is how many conversations the Marker remembers: busy ones, and idle ones within the
	// retention period.
	Tracked int
	// Pending is how many conversations have a mark waiting to be sent.
	Pending int
	// InFlight is how many requests are being sent.
	InFlight int

	// Marked is how many marks Mark accepted.
	Marked uint64
	// Requests is how many HTTP requests were sent, the Client's retries included.
	Requests uint64
	// Confirmed is how many sends X confirmed.
	Confirmed uint64
	// Coalesced is how many accepted marks needed no request of their own: replaced by a higher mark of
	// the same conversation before they were sent, or covered by one already pending, in flight or
	// confirmed.
	Coalesced uint64
	// Failed is how many marks were reported as failed.
	Failed uint64
	// RateLimited is how many 429 answers X sent.
	RateLimited uint64
	// Retried is how many sends ended in a transient fault and kept their mark to try again.
	Retried uint64

	// HeldUntil is the end of a hold for X's rate limit in force (after a 429, or while the window's
	// requests are used up and pacing is on); zero when there is none.
	HeldUntil time.Time
	// BackoffUntil is the end of a backoff after transient faults in force; zero when there is none.
	BackoffUntil time.Time
}

// MarkerOption configures a Marker. NewMarker reports an option value that cannot work as an error
// naming the option.
type MarkerOption func(*Marker) error

// WithMarkDelay sets how long a mark waits before it is sent, so that the marks of a burst coalesce into
// one request (default DefaultMarkDelay). 0 sends at once; marks still coalesce while a send is in flight.
func WithMarkDelay(d time.Duration) MarkerOption {
	return func(m *Marker) error {
		if d < 0 {
			return fmt.Errorf("WithMarkDelay: %v is negative; 0 sends at once", d)
		}
		m.delay = d
		return nil
	}
}

// WithMarkConcurrency sets how many requests the Marker has in flight at once, across conversations
// (default DefaultMarkConcurrency). Within one conversation there is never more than one.
func WithMarkConcurrency(n int) MarkerOption {
	return func(m *Marker) error {
		if n < 1 {
			return fmt.Errorf("WithMarkConcurrency: %d is below 1", n)
		}
		m.concurrency = n
		return nil
	}
}

// WithMarkRetention sets how long the Marker remembers a conversation once it is idle: its last mark
// confirmed (or failed), nothing pending or in flight (default DefaultMarkRetention). Within that time a
// late mark not above the confirmed one costs nothing; after it, the conversation is forgotten and such a
// mark is sent again. 0 forgets a conversation as soon as it is idle.
func WithMarkRetention(d time.Duration) MarkerOption {
	return func(m *Marker) error {
		if d < 0 {
			return fmt.Errorf("WithMarkRetention: %v is negative; 0 forgets a conversation as soon as it is idle", d)
		}
		m.retention = d
		return nil
	}
}

// WithMarkPacing turns pacing to X's rate-limit headers on (the default) or off. Off, the Marker sends
// whenever a mark is due until X answers 429, and then holds.
func WithMarkPacing(on bool) MarkerOption {
	return func(m *Marker) error {
		m.pacing = on
		return nil
	}
}

// WithMarkErrorHandler sets a function told about every mark that failed for good: X refused it, the
// token source cannot heal, or Close gave up on it. err is what MarkConversationRead would have returned
// (an *APIError when X answered), or one wrapping ErrMarkerClosed. It is called from the Marker's
// goroutines, possibly several at once, and must not call Close. Close waits for calls in progress only
// until its context ends: a handler that blocks past that keeps its own goroutine, and nothing else,
// alive until it returns. A nil handler is allowed: failures are then only returned by Flush and Close.
func WithMarkErrorHandler(handler func(conversationID, seenUntilSequenceID string, err error)) MarkerOption {
	return func(m *Marker) error {
		m.onError = handler
		return nil
	}
}

// NewMarker returns a Marker that sends through c, configured by opts, and starts its dispatcher
// goroutine. A nil c, a nil option or an option value that cannot work is an error naming it.
func NewMarker(c *Client, opts ...MarkerOption) (*Marker, error) {
	if c == nil {
		return nil, errors.New("NewMarker: nil *Client")
	}
	m := &Marker{
		client:      c,
		logger:      c.logger,
		delay:       DefaultMarkDelay,
		concurrency: DefaultMarkConcurrency,
		retention:   DefaultMarkRetention,
		pacing:      true,
		wake:        make(chan struct{}, 1),
		stop:        make(chan struct{}),
		entries:     make(map[string]*markEntry),
		inFlight:    make(map[*markEntry]struct{}),
		faults:      make(map[*markEntry]error),
		changed:     make(chan struct{}),
	}
	for i, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("NewMarker: option %d is nil", i+1)
		}
		if err := opt(m); err != nil {
			return nil, fmt.Errorf("NewMarker: %w", err)
		}
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.dispatch()
	}()
	return m, nil
}

// Mark records that the user has read conversationID up to seenUntilSequenceID; the Marker sends it
// later, coalesced with other marks of the conversation. It never waits for the network.
//
// conversationID is what Client.MarkConversationRead takes: convert the "a:b" form of X Chat events with
// NormalizeConversationID first. seenUntilSequenceID must be decimal ASCII digits, since the Marker orders
// them. Invalid input returns an error wrapping ErrInvalidConversationID or ErrInvalidSequenceID and queues
// nothing. A mark covered by a higher or equal one is accepted and needs no request: it returns nil.
// After Close, Mark returns an error wrapping ErrMarkerClosed.
func (m *Marker) Mark(conversationID, seenUntilSequenceID string) error {
	if err := ValidateConversationID(conversationID); err != nil {
		return err
	}
	// Decimal ASCII digits only: the Marker orders sequence IDs.
	if err := validateSequenceID(seenUntilSequenceID); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrMarkerClosed
	}
	m.stats.Marked++
	e := m.entries[conversationID]
	if e == nil {
		// Cloned so that an ID cut from a large event buffer does not keep the buffer alive.
		e = &markEntry{id: strings.Clone(conversationID)}
		m.entries[e.id] = e
		m.peak = max(m.peak, len(m.entries))
	}
	seq := seenUntilSequenceID
	if !higher(seq, e.sent) || !higher(seq, e.sending) || !higher(seq, e.pending) {
		m.stats.Coalesced++
		return nil
	}
	seq = strings.Clone(seq)
	if e.pending != "" {
		// Joins the burst, replacing its mark: sent when the burst is due.
		e.pending = seq
		m.stats.Coalesced++
		return nil
	}
	m.idle.remove(e)
	m.gen++
	m.gens.push(m.gen)
	m.pending++
	e.pending, e.pendingGen, e.at = seq, m.gen, time.Now().Add(m.delay)
	if e.sending == "" {
		// An entry with a send in flight is queued when that send ends.
		heap.Push(&m.queue, e)
		m.nudge()
	}
	return nil
}

// Stats returns the Marker's state and its totals since NewMarker. It is cheap and safe to call from any
// goroutine at any rate, during and after Close.
func (m *Marker) Stats() MarkerStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.stats
	s.Tracked, s.Pending, s.InFlight = len(m.entries), m.pending, len(m.inFlight)
	now := time.Now()
	if held := m.heldUntil(); held.After(now) {
		s.HeldUntil = held
	}
	if m.backoffUntil.After(now) {
		s.BackoffUntil = m.backoffUntil
	}
	return s
}

// Flush sends every pending mark now, without waiting for its delay, and waits until all marks accepted
// before the call are confirmed or have failed. It returns the failures since the previous Flush, joined
// (nil if none).
//
// Flush skips the delay, not X's budget or a hold: when X's window has no requests left it waits for the
// window's reset rather than collecting 429s. A mark waiting to retry after a transient fault is tried at
// once, unless no send has succeeded since the fault: then Flush waits out that backoff. When ctx ends
// first, Flush returns an error
// that wraps ctx.Err() and says how many conversations are still pending; their marks stay queued for a
// later Flush or Close. After Close, Flush returns an error wrapping ErrMarkerClosed.
func (m *Marker) Flush(ctx context.Context) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrMarkerClosed
	}
	gen := m.gen
	m.mu.Unlock()

	n, ctxErr := m.sendUpTo(ctx, gen)
	m.mu.Lock()
	failures := m.takeFailures()
	m.mu.Unlock()
	if ctxErr != nil {
		return prefixed(joinErrors(fmt.Errorf("Flush: %w with %s still pending", ctxErr, conversationsText(n)), failures))
	}
	return failures
}

// Close stops accepting marks, sends every pending one as Flush does, and stops the Marker. It returns
// the failures since the last Flush, joined.
//
// When ctx ends first, Close cancels the sends in flight and reports every mark not confirmed by then as
// failed, to the error handler and in the returned error, which also wraps ctx.Err(). Close returns by
// ctx's deadline even while an error handler blocks: the only goroutine of the Marker that may outlive
// Close is one still inside the handler, and it ends when the handler returns. (A token source or an
// http.RoundTripper that ignores cancellation holds Close until it returns.) A second Close returns an
// error wrapping ErrMarkerClosed.
func (m *Marker) Close(ctx context.Context) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrMarkerClosed
	}
	m.closed = true
	gen := m.gen
	m.mu.Unlock()

	// No mark can arrive now, so once those up to gen are done, nothing is left.
	n, ctxErr := m.sendUpTo(ctx, gen)
	var closeErr error
	if ctxErr != nil {
		closeErr = fmt.Errorf("Close: %w with %s still pending; their marks are reported as failed", ctxErr, conversationsText(n))
		m.mu.Lock()
		m.aborting = true
		m.mu.Unlock()
		// The sends in flight end now and report their own failures.
		m.cancel()
	}
	close(m.stop)
	m.wg.Wait()
	m.cancel()

	// Only when Close gave up can marks be left: queued ones, and those that arrived during the sends it
	// cancelled.
	m.mu.Lock()
	var left []unsentMark
	for m.queue.Len() > 0 {
		e := heap.Pop(&m.queue).(*markEntry)
		err := closedErr(ctxErr, m.faults[e])
		left = append(left, unsentMark{e.id, e.pending, err})
		m.fail(e.id, e.pending, err)
		m.gens.resolve(e.pendingGen)
		m.pending--
		m.forget(e)
	}
	if len(left) > 0 && m.onError != nil {
		// From a goroutine of its own, so that a handler that blocks cannot hold Close past its deadline.
		m.handlers++
		go m.report(left)
	}
	if ctxErr == nil && m.handlers > 0 {
		// Failures reported before or during Close: wait for the handler, but no longer than ctx allows.
		if err := m.waitLocked(ctx, func() bool { return m.handlers == 0 }); err != nil {
			closeErr = fmt.Errorf("Close: %w while the error handler was still running", err)
		}
	}
	m.notify()
	err := prefixed(joinErrors(closeErr, m.takeFailures()))
	m.unlock()
	return err
}

type unsentMark struct {
	id, seq string
	err     error
}

// closedErr is the failure of a mark that Close gave up on before it was sent; lastFault is the
// transient fault it was waiting to retry after, if any.
func closedErr(ctxErr, lastFault error) error {
	if lastFault != nil {
		return fmt.Errorf("%w before the mark was sent: %w; its last try failed: %w", ErrMarkerClosed, ctxErr, lastFault)
	}
	return fmt.Errorf("%w before the mark was sent: %w", ErrMarkerClosed, ctxErr)
}

// report tells the error handler about marks Close gave up on.
func (m *Marker) report(left []unsentMark) {
	defer m.handlerDone()
	for _, u := range left {
		m.onError(u.id, u.seq, u.err)
	}
}

func (m *Marker) handlerDone() {
	m.mu.Lock()
	m.handlers--
	m.notify()
	m.mu.Unlock()
}

// sendUpTo skips the delay and waits until no mark numbered gen or less is pending or in flight, or ctx
// ends; then it returns how many conversations still hold such marks, and ctx.Err().
func (m *Marker) sendUpTo(ctx context.Context, gen uint64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.flushers++
	defer func() { m.flushers-- }() // runs before the Unlock above
	m.nudge()
	err := m.waitLocked(ctx, func() bool { return !m.gens.holdsUpTo(gen) })
	if err != nil {
		return m.unresolved(gen), err
	}
	return 0, nil
}

// waitLocked waits until done holds or ctx ends. The caller holds m.mu; waitLocked releases it while
// waiting.
func (m *Marker) waitLocked(ctx context.Context, done func() bool) error {
	m.waiters++
	defer func() { m.waiters-- }()
	for !done() {
		changed := m.changed
		m.mu.Unlock()
		select {
		case <-changed:
			m.mu.Lock()
		case <-ctx.Done():
			m.mu.Lock()
			// Something may have ended meanwhile: look again.
			if done() {
				return nil
			}
			return ctx.Err()
		}
	}
	return nil
}

// unresolved counts the conversations holding a mark numbered gen or less that is not done. Only queued
// and in-flight entries can: that is at most the busy conversations, not all those remembered.
func (m *Marker) unresolved(gen uint64) int {
	n := 0
	for _, e := range m.queue {
		if e.pendingGen <= gen {
			n++
		}
	}
	for e := range m.inFlight {
		if e.sendingGen <= gen || e.pending != "" && e.pendingGen <= gen {
			n++
		}
	}
	return n
}

// dispatch is the Marker's one long-lived goroutine: it starts due sends, forgets idle conversations, and
// sleeps until there is something to do.
func (m *Marker) dispatch() {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		var fire <-chan time.Time
		if next := m.step(); !next.IsZero() {
			timer.Reset(time.Until(next))
			fire = timer.C
		}
		select {
		case <-m.wake:
		case <-fire:
		case <-m.stop:
			timer.Stop()
			return
		}
		// Since Go 1.23 a stopped timer delivers no stale tick, so Reset above needs no drain.
		timer.Stop()
	}
}

// step does what is due and returns when it should run again, or zero when only a send ending or a
// new mark can give it something to do.
func (m *Marker) step() time.Time {
	m.mu.Lock()
	defer m.unlock()
	now := time.Now()
	var next time.Time
	if !m.sweep(now) {
		next = now // more to forget: come back at once, after letting Mark in
	} else if e := m.idle.head; e != nil {
		next = e.at.Add(m.retention)
	}
	return earliest(next, m.startDue(now))
}

// startDue starts the sends that are due, as many as the concurrency, holds, backoffs and X's budget
// allow, and returns when the next one may be due.
func (m *Marker) startDue(now time.Time) time.Time {
	var next time.Time
	if m.holdLogged {
		if held := m.heldUntil(); held.After(now) {
			next = held // to log the hold's end on time
		} else {
			m.holdLogged = false
			m.log(slog.LevelInfo, "markread: Marker hold over", slog.Int("pending", m.pending))
		}
	}
	if m.window.known() && !now.Before(m.window.reset) {
		m.window = rateWindow{} // a new window: its first answer says what it holds
		m.paceNext = time.Time{}
	}
	if m.aborting || m.queue.Len() == 0 {
		return next
	}
	if wait := later(m.holdUntil, m.backoffUntil); now.Before(wait) {
		return earliest(next, wait)
	}
	for m.queue.Len() > 0 && len(m.inFlight) < m.concurrency {
		e := m.queue[0]
		if m.flushers == 0 && e.at.After(now) {
			return earliest(next, e.at)
		}
		if m.pacing && m.window.known() {
			if m.window.remaining <= 0 {
				m.startHold(m.window.reset, "no requests left in X's rate-limit window")
				return earliest(next, m.window.reset)
			}
			// X may not have counted the requests it has not answered yet: count them as spent
			// until their answers say what is left.
			left := m.window.remaining - m.unanswered
			if left <= 0 {
				return next // a send ending wakes the dispatcher
			}
			if left < m.pending && m.flushers == 0 {
				// More conversations wait than requests are left: spread the sends over the rest of
				// the window, so that the marks coalesce meanwhile.
				if now.Before(m.paceNext) {
					return earliest(next, m.paceNext)
				}
				m.paceNext = now.Add(m.window.reset.Sub(now) / time.Duration(left))
			}
		}
		m.unanswered++
		heap.Pop(&m.queue)
		e.sending, e.sendingGen, e.pending = e.pending, e.pendingGen, ""
		m.pending--
		m.inFlight[e] = struct{}{}
		m.wg.Add(1)
		go m.send(e, e.sending)
	}
	return next
}

// send sends one conversation's mark and settles the entry with the outcome, then tells the error
// handler if the mark failed.
func (m *Marker) send(e *markEntry, seq string) {
	// Whether a request of this send may be on its way with no answer yet: at first, and after an answer
	// the Client may retry. Only this goroutine uses it.
	awaiting := true
	res, err := m.client.send(m.ctx, e.id, seq)
	o := attemptOutcome{}
	var apiErr *APIError
	switch {
	case err == nil:
		o = attemptOutcome{status: http.StatusOK, rateLimit: res.RateLimit}
	case errors.As(err, &apiErr):
		o = attemptOutcome{status: apiErr.StatusCode, rateLimit: apiErr.RateLimit}
	}
	awaiting = m.observe(o, awaiting)
	failed, err := m.settle(e, seq, err, awaiting)
	m.wg.Done() // Close waits for sends, but not for the handler beyond its context
	if failed {
		defer m.handlerDone()
		m.onError(e.id, seq, err)
	}
}

// settle files the outcome of a send. It reports whether the error handler is to be told of a failure,
// and the error to tell it.
func (m *Marker) settle(e *markEntry, seq string, err error, awaiting bool) (bool, error) {
	m.mu.Lock()
	defer m.unlock()
	if awaiting {
		m.unanswered-- // no request went out (the token source failed), or no retry came after all
	}
	delete(m.inFlight, e)
	e.sending = ""
	now := time.Now()
	var failure error
	switch {
	case err == nil:
		m.stats.Confirmed++
		if higher(seq, e.sent) {
			e.sent = seq
		}
		m.holdBackoff, m.faultStreak, m.backoffUntil = 0, 0, time.Time{}
		e.faults = 0
		delete(m.faults, e)
		m.gens.resolve(e.sendingGen)
	case m.aborting:
		failure = fmt.Errorf("%w while the mark was being sent: %w", ErrMarkerClosed, err)
	case errors.Is(err, ErrRateLimited):
		// Not a failure: the mark goes back in the queue, unless a newer one there covers it.
		m.requeue(e, seq, now)
		m.hold(err, now)
	case isTransient(err):
		m.retryLater(e, seq, err, now)
	default:
		failure = err
	}
	if failure != nil {
		delete(m.faults, e)
		m.gens.resolve(e.sendingGen)
		m.fail(e.id, seq, failure)
	}
	if e.pending != "" {
		heap.Push(&m.queue, e)
	} else {
		m.settleIdle(e, now)
	}
	m.notify()
	m.nudge()
	if failure == nil || m.onError == nil {
		return false, nil
	}
	m.handlers++
	return true, failure
}

// requeue puts a mark whose send did not go through back in front of the queue, or lets the newer
// mark that arrived during the send cover it. The caller holds m.mu.
func (m *Marker) requeue(e *markEntry, seq string, at time.Time) {
	if e.pending == "" {
		e.pending, e.pendingGen, e.at = seq, e.sendingGen, at
		m.pending++
		return
	}
	// The newer mark covers this one, and Flush calls waiting for this one now wait for it.
	m.stats.Coalesced++
	m.gens.resolve(e.pendingGen)
	e.pendingGen = e.sendingGen
	e.at = earliest(e.at, at)
}

// retryLater keeps a mark whose send met a transient fault, to try again after a backoff. The caller
// holds m.mu.
func (m *Marker) retryLater(e *markEntry, seq string, err error, now time.Time) {
	m.stats.Retried++
	m.faults[e] = err
	e.faults++
	m.faultStreak++
	retryAt := now.Add(retryBackoff(e.faults))
	m.requeue(e, seq, retryAt)
	e.at = later(e.at, retryAt) // a newer mark waits out the backoff too
	// While nothing succeeds, every conversation backs off: the fault is likely the token source's or
	// the network's, not this conversation's.
	m.backoffUntil = later(m.backoffUntil, now.Add(retryBackoff(m.faultStreak)))
	m.log(slog.LevelWarn, "markread: Marker will retry a mark after a transient fault",
		slog.String("conversation", e.id), slog.String("seen_until", seq), slog.Int("faults", e.faults),
		slog.Time("retry_at", e.at), slog.String("error", err.Error()))
}

// settleIdle files an entry with nothing pending or in flight to be forgotten after the retention, or
// forgets it now when there is nothing worth remembering. The caller holds m.mu.
func (m *Marker) settleIdle(e *markEntry, now time.Time) {
	if e.sent == "" || m.retention == 0 {
		m.forget(e)
		return
	}
	e.at = now
	m.idle.pushBack(e)
	m.nudge() // the dispatcher may be asleep with no retention deadline
}

// forget drops an entry that has nothing pending or in flight. The caller holds m.mu.
func (m *Marker) forget(e *markEntry) {
	m.idle.remove(e)
	delete(m.faults, e)
	delete(m.entries, e.id)
}

// sweep forgets the conversations idle for longer than the retention, at most sweepBatch at a time, and
// gives memory back once most of it is unused. It reports whether it is done. The caller holds m.mu.
func (m *Marker) sweep(now time.Time) bool {
	for range sweepBatch {
		e := m.idle.head
		if e == nil || now.Sub(e.at) < m.retention {
			m.compact()
			return true
		}
		m.forget(e)
	}
	return false
}

// compact rebuilds what has grown far beyond its use: Go maps never shrink, and a drained queue keeps its
// array. The caller holds m.mu.
func (m *Marker) compact() {
	if m.peak >= minRebuild && len(m.entries) < m.peak/4 {
		entries := make(map[string]*markEntry, len(m.entries))
		for id, e := range m.entries {
			entries[id] = e
		}
		m.entries, m.peak = entries, len(entries)
	}
	if c := cap(m.queue); c >= minRebuild && len(m.queue) < c/4 {
		m.queue = append(make(markQueue, 0, 2*len(m.queue)), m.queue...)
	}
	m.gens.compact()
}

// observe is told about every request a send makes, retries included: it counts them and learns X's
// budget from the rate-limit headers of every answer. awaiting says whether the send is counted in
// m.unanswered; observe returns whether it is now, which it is while the Client may send a retry.
func (m *Marker) observe(o attemptOutcome, awaiting bool) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stats.Requests++
	if o.status == http.StatusTooManyRequests {
		m.stats.RateLimited++
	}
	retry := false
	switch {
	case awaiting && !retry:
		m.unanswered--
	case !awaiting && retry:
		m.unanswered++
	}
	m.learn(o)
	return retry
}

// learn updates what the Marker knows of X's window from an answer's rate-limit headers. The caller
// holds m.mu.
func (m *Marker) learn(o attemptOutcome) {
	rl := o.rateLimit
	now := time.Now()
	if o.status == 0 || rl.Limit <= 0 || !rl.Reset.After(now) {
		return // no answer, no headers, or a window already over by our clock
	}
	// A broken or hostile reset must not stall the Marker for years, here any more than after a 429.
	rl.Reset = earliest(rl.Reset, now.Add(maxMarkHold))
	switch {
	case !m.window.known() || rl.Reset.After(m.window.reset):
		m.window = rateWindow{reset: rl.Reset, remaining: rl.Remaining}
		m.paceNext = time.Time{}
	case rl.Reset.Equal(m.window.reset):
		// Answers overtake each other: the lowest count is the latest.
		m.window.remaining = min(m.window.remaining, rl.Remaining)
	}
	// An answer about an older window says nothing about this one.
}

// hold stops every send from starting until X's limit resets: the limit is per user, so the other
// conversations would only collect 429s too. The caller holds m.mu.
func (m *Marker) hold(err error, now time.Time) {
	var until time.Time
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		until = apiErr.RetryAt()
	}
	why := "X answered 429 Too Many Requests"
	if !until.After(now) {
		if now.Before(m.holdUntil) {
			// A send that was in flight when the hold began: the hold already covers it.
			return
		}
		m.holdBackoff = min(max(2*m.holdBackoff, markHoldMin), markHoldMax)
		until = now.Add(m.holdBackoff)
		why = "X answered 429 Too Many Requests without a reset time"
	}
	until = earliest(until, now.Add(maxMarkHold))
	if until.After(m.holdUntil) {
		m.holdUntil = until
		m.startHold(until, why)
	}
}

// startHold logs the start of a hold, once per hold. The caller holds m.mu.
func (m *Marker) startHold(until time.Time, why string) {
	if m.holdLogged {
		return
	}
	m.holdLogged = true
	m.log(slog.LevelWarn, "markread: Marker holding every conversation for X's rate limit",
		slog.Time("until", until), slog.String("why", why), slog.Int("pending", m.pending))
}

// heldUntil is the end of the rate-limit hold in force, if any. The caller holds m.mu.
func (m *Marker) heldUntil() time.Time {
	held := m.holdUntil
	if m.pacing && m.window.known() && m.window.remaining <= 0 {
		held = later(held, m.window.reset)
	}
	return held
}

// log queues a log line for unlock to write. The caller holds m.mu.
func (m *Marker) log(level slog.Level, msg string, attrs ...slog.Attr) {
	if m.logger != nil {
		m.logs = append(m.logs, logRecord{level, msg, attrs})
	}
}

// unlock releases m.mu and then writes the log lines queued under it: a logger may be slow, or call
// Stats.
func (m *Marker) unlock() {
	logs := m.logs
	m.logs = nil
	m.mu.Unlock()
	for _, r := range logs {
		m.logger.LogAttrs(context.Background(), r.level, r.msg, r.attrs...)
	}
}

// fail counts, logs and keeps for Flush a mark that failed for good. The caller holds m.mu.
func (m *Marker) fail(id, seq string, err error) {
	m.stats.Failed++
	m.log(slog.LevelError, "markread: Marker gave up on a mark",
		slog.String("conversation", id), slog.String("seen_until", seq), slog.String("error", err.Error()))
	if len(m.failures) == maxHeldFailures {
		m.dropped++
		return
	}
	m.failures = append(m.failures, fmt.Errorf("marking conversation %s read up to %s: %w", quoteInput(id), quoteInput(seq), err))
}

// takeFailures returns the failures kept since the last call, joined on one line, without the package
// prefix: Flush and Close add it. The caller holds m.mu.
func (m *Marker) takeFailures() error {
	failures := m.failures
	if m.dropped > 0 {
		failures = append(failures, fmt.Errorf("%d more marks failed", m.dropped))
	}
	m.failures, m.dropped = nil, 0
	return joinErrors(failures...)
}

// notify wakes the calls waiting on m.changed. The caller holds m.mu.
func (m *Marker) notify() {
	if m.waiters > 0 {
		close(m.changed)
		m.changed = make(chan struct{})
	}
}

// nudge wakes the dispatcher without blocking; a nudge already waiting is enough.
func (m *Marker) nudge() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// attemptOutcome is what one request came to.
type attemptOutcome struct {
	status    int       // the HTTP status; 0 when no answer arrived
	rateLimit RateLimit // what the answer's rate-limit headers said
}

// isTransient reports whether a send's failure may heal by itself, so that its mark is kept and retried.
func isTransient(err error) bool {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.StatusCode >= 500 // any other answer is X's refusal; a 429 is handled before
	}
	if errors.Is(err, ErrNoToken) {
		return !oauthCannotHeal(err)
	}
	if errors.Is(err, ErrInvalidConversationID) || errors.Is(err, ErrInvalidSequenceID) {
		return false // Mark validated them; the same input fails again
	}
	return true // no answer: the transport failed, or the response could not be read
}

// retryBackoff is the capped exponential delay after the n-th transient fault in a row, with equal
// jitter: half fixed, half random, so that conversations failing together do not retry together.
func retryBackoff(n int) time.Duration {
	d := markRetryMax
	if shift := n - 1; shift < 30 && markRetryMin<<shift < markRetryMax {
		d = markRetryMin << shift
	}
	return d/2 + rand.N(d/2+1)
}

// compareSeq compares two sequence IDs of decimal digits as unsigned integers of any length: without
// leading zeros, the longer is larger, and equal lengths compare as strings.
func compareSeq(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// higher reports whether seq is above than, where "" (no mark) is below everything.
func higher(seq, than string) bool {
	return than == "" || compareSeq(seq, than) > 0
}

func conversationsText(n int) string {
	if n == 1 {
		return "1 conversation"
	}
	return strconv.Itoa(n) + " conversations"
}

// earliest returns the earlier of two times, where zero means none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

// later returns the later of two times.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
