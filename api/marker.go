package api

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrMarkerClosed is the errors.Is target for Mark, Flush or Close called after Close, and for a mark that
// Close had to give up on before it was sent.
var ErrMarkerClosed = errors.New("markread: Marker closed")

// Marker defaults, documented in the README.
const (
	DefaultMarkDelay       = 100 * time.Millisecond // how long a mark waits for later ones to coalesce
	DefaultMarkConcurrency = 4                      // sends in flight at once, across conversations
)

const (
	// A 429 without a usable reset time holds the Marker for a backoff that doubles from
	// markHoldMin to markHoldMax, and starts over after a success.
	markHoldMin = time.Second
	markHoldMax = time.Minute
	// maxMarkHold bounds a reset time named by the server, so that a broken one cannot stall the Marker
	// for years. X's longest window is a day.
	maxMarkHold = 24 * time.Hour
	// maxHeldFailures bounds the failures kept for Flush between two calls; the rest are counted.
	maxHeldFailures = 64
)

// Marker marks conversations read on behalf of a bot that reads many messages: it coalesces the marks of
// each conversation and sends only the highest, in the background, so that a burst of a hundred messages
// costs one request instead of a hundred. It is safe for concurrent use.
//
// Mark validates and queues a mark and returns at once. A mark is sent DefaultMarkDelay (see
// WithMarkDelay) after the first of its burst; marks that arrive meanwhile replace it if they are higher.
// Sequence IDs are compared as unsigned decimal integers ("9" < "10", "010" == "10"). A mark not higher
// than one already confirmed by X, in flight, or pending is dropped as covered. At most one request per
// conversation is in flight at a time, and at most DefaultMarkConcurrency (see WithMarkConcurrency) in all.
//
// X limits this endpoint per user, that is per access token and so per Client. When a send gets a 429,
// the Marker holds every conversation, not just that one, until the reset time X names (or, without one,
// for a backoff from 1s doubling up to 1 minute), keeping the mark and merging newer ones into it. A 429 is
// therefore never reported as a failure. The Marker's sends do not wait out a 429 inside the Client,
// whatever its WithMaxRateLimitWait: one hold covers every conversation instead.
//
// Any other failure has already been retried by the Client (transport errors, 5xx). It is reported to the
// handler set with WithMarkErrorHandler and returned by the next Flush or Close, and the mark is dropped:
// a later mark for the conversation is sent even if it is lower. Every mark Mark accepts is thus either
// covered by a mark X confirmed, equal or higher, or reported as failed.
//
// The Marker remembers the highest confirmed mark of every conversation it has seen, a few dozen bytes
// each, until it is closed. Call Close when done: it sends what is pending and stops the Marker's
// goroutines.
type Marker struct {
	client      *Client
	delay       time.Duration
	concurrency int
	onError     func(conversationID, seenUntilSequenceID string, err error)

	ctx     context.Context // the sends' context, cancelled when Close gives up on them
	cancel  context.CancelFunc
	wake    chan struct{}  // nudges the dispatcher; capacity 1, so a nudge never blocks
	stop    chan struct{}  // closed by Close to end the dispatcher
	wg      sync.WaitGroup // the dispatcher and every send
	running atomic.Int32   // goroutines alive, so that tests can see that Close leaves none

	mu          sync.Mutex
	entries     map[string]*markEntry
	queue       markQueue               // entries with a pending mark and no send in flight, soonest due first
	inFlight    map[*markEntry]struct{} // entries with a send in flight
	gen         uint64                  // counts marks that started a pending burst, so Flush knows what came before it
	flushers    int                     // Flush and Close calls waiting; while > 0 the delay is skipped
	changed     chan struct{}           // closed and replaced when a send ends, to wake Flush
	holdUntil   time.Time               // after a 429, no send starts before this
	holdBackoff time.Duration           // the last hold without a reset time; 0 after a success
	closed      bool                    // Close was called: Mark refuses
	aborting    bool                    // Close's context ended: start no send
	failures    []error                 // failures since the last Flush, at most maxHeldFailures
	dropped     int                     // failures beyond maxHeldFailures
}

// markEntry is one conversation's state. A sequence ID of "" means none: valid ones are never empty.
type markEntry struct {
	id         string
	pending    string    // the highest mark not sent yet
	sending    string    // the mark in flight
	sent       string    // the highest mark X confirmed
	dueAt      time.Time // when pending may be sent
	pendingGen uint64    // the gen of the oldest mark pending covers
	sendingGen uint64    // the gen of the oldest mark sending covers
}

// MarkerOption configures a Marker. Options are applied by NewMarker, which panics on a value that cannot
// work, such as a negative delay: that is a programming error, not a run-time condition.
type MarkerOption func(*Marker)

// WithMarkDelay sets how long a mark waits before it is sent, so that the marks of a burst coalesce into
// one request (default DefaultMarkDelay). 0 sends at once; marks still coalesce while a send is in flight.
func WithMarkDelay(d time.Duration) MarkerOption {
	return func(m *Marker) {
		if d < 0 {
			panic(fmt.Sprintf("markread: WithMarkDelay: %v is negative", d))
		}
		m.delay = d
	}
}

// WithMarkConcurrency sets how many requests the Marker has in flight at once, across conversations
// (default DefaultMarkConcurrency). Within one conversation there is never more than one.
func WithMarkConcurrency(n int) MarkerOption {
	return func(m *Marker) {
		if n < 1 {
			panic(fmt.Sprintf("markread: WithMarkConcurrency: %d is below 1", n))
		}
		m.concurrency = n
	}
}

// WithMarkErrorHandler sets a function told about every mark that failed for good: X refused it, the
// Client's retries ran out, or Close gave up on it. err is the Client's error (an *APIError when X
// answered) or one wrapping ErrMarkerClosed. It is called from the Marker's goroutines, possibly several at
// once, and must not call Close. A nil handler is allowed: failures are then only returned by Flush and
// Close.
func WithMarkErrorHandler(handler func(conversationID, seenUntilSequenceID string, err error)) MarkerOption {
	return func(m *Marker) { m.onError = handler }
}

// NewMarker returns a Marker that sends through c, configured by opts, and starts its dispatcher
// goroutine. It panics if c or an option is nil, or an option's value cannot work.
func NewMarker(c *Client, opts ...MarkerOption) *Marker {
	if c == nil {
		panic("markread: NewMarker: nil *Client")
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Marker{
		client:      c,
		delay:       DefaultMarkDelay,
		concurrency: DefaultMarkConcurrency,
		ctx:         ctx,
		cancel:      cancel,
		wake:        make(chan struct{}, 1),
		stop:        make(chan struct{}),
		entries:     make(map[string]*markEntry),
		inFlight:    make(map[*markEntry]struct{}),
		changed:     make(chan struct{}),
	}
	for _, opt := range opts {
		if opt == nil {
			panic("markread: NewMarker: nil MarkerOption")
		}
		opt(m)
	}
	m.goTracked(m.dispatch)
	return m
}

// Mark records that the user has read conversationID up to seenUntilSequenceID; the Marker sends it
// later, coalesced with other marks of the conversation. It never waits for the network.
//
// conversationID is what Client.MarkConversationRead takes: convert the "a:b" form of X Chat events with
// NormalizeConversationID first. seenUntilSequenceID must be decimal ASCII digits, since the Marker orders
// them. Invalid input returns an error wrapping ErrInvalidConversationID or ErrInvalidSequenceID and queues
// nothing. A mark covered by a higher or equal one is accepted and dropped: it returns nil. After Close,
// Mark returns ErrMarkerClosed.
func (m *Marker) Mark(conversationID, seenUntilSequenceID string) error {
	if err := ValidateConversationID(conversationID); err != nil {
		return err
	}
	if err := validateMarkSequenceID(seenUntilSequenceID); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrMarkerClosed
	}
	e := m.entries[conversationID]
	if e == nil {
		// Cloned so that an ID cut from a large event buffer does not keep the buffer alive.
		e = &markEntry{id: strings.Clone(conversationID)}
		m.entries[e.id] = e
	}
	seq := seenUntilSequenceID
	if !higher(seq, e.sent) || !higher(seq, e.sending) || !higher(seq, e.pending) {
		return nil
	}
	seq = strings.Clone(seq)
	if e.pending != "" {
		// Joins the burst: sent when the burst is due.
		e.pending = seq
		return nil
	}
	m.gen++
	e.pending, e.pendingGen, e.dueAt = seq, m.gen, time.Now().Add(m.delay)
	if e.sending == "" {
		// An entry with a send in flight is queued when that send ends.
		heap.Push(&m.queue, e)
		m.nudge()
	}
	return nil
}

// Flush sends every pending mark now, without waiting for its delay, and waits until all marks accepted
// before the call are sent or have failed. It returns the failures since the previous Flush, joined (nil
// if none).
//
// When ctx ends first, Flush returns an error that wraps ctx.Err() and says how many conversations are
// still pending; their marks stay queued for a later Flush or Close. That happens when X's rate limit
// resets after ctx's deadline. After Close, Flush returns ErrMarkerClosed.
func (m *Marker) Flush(ctx context.Context) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrMarkerClosed
	}
	gen := m.gen
	m.mu.Unlock()

	n, ctxErr := m.waitFor(ctx, gen)
	m.mu.Lock()
	failures := m.takeFailures()
	m.mu.Unlock()
	if ctxErr != nil {
		return errors.Join(fmt.Errorf("markread: Flush: %w with %s still pending", ctxErr, conversationsText(n)), failures)
	}
	return failures
}

// Close stops accepting marks, sends every pending one as Flush does, and stops the Marker: no goroutine
// of it survives Close. It returns the failures since the last Flush, joined.
//
// When ctx ends first, Close cancels the sends in flight and reports every mark not confirmed by then as
// failed, to the error handler and in the returned error, which also wraps ctx.Err(). A second Close
// returns ErrMarkerClosed.
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
	n, ctxErr := m.waitFor(ctx, gen)
	var closeErr error
	if ctxErr != nil {
		closeErr = fmt.Errorf("markread: Close: %w with %s still pending; their marks are reported as failed", ctxErr, conversationsText(n))
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
	type unsent struct{ id, seq string }
	var left []unsent
	m.mu.Lock()
	for m.queue.Len() > 0 {
		e := heap.Pop(&m.queue).(*markEntry)
		left = append(left, unsent{e.id, e.pending})
		m.recordFailure(e.id, e.pending, closedErr(ctxErr))
		e.pending = ""
	}
	m.notifyFlushers()
	err := errors.Join(closeErr, m.takeFailures())
	m.mu.Unlock()
	if m.onError != nil {
		for _, u := range left {
			m.onError(u.id, u.seq, closedErr(ctxErr))
		}
	}
	return err
}

func closedErr(ctxErr error) error {
	return fmt.Errorf("%w before the mark was sent: %w", ErrMarkerClosed, ctxErr)
}

// waitFor skips the delay and waits until no mark numbered gen or less is pending or in flight, or ctx
// ends; then it returns how many conversations still hold such marks, and ctx.Err().
func (m *Marker) waitFor(ctx context.Context, gen uint64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.flushers++
	defer func() { m.flushers-- }() // runs before the Unlock above
	m.nudge()
	for {
		n := m.unresolved(gen)
		if n == 0 {
			return 0, nil
		}
		changed := m.changed
		m.mu.Unlock()
		select {
		case <-changed:
			m.mu.Lock()
		case <-ctx.Done():
			m.mu.Lock()
			// A send may have ended meanwhile: count again.
			if n = m.unresolved(gen); n == 0 {
				return 0, nil
			}
			return n, ctx.Err()
		}
	}
}

// unresolved counts the conversations holding a mark numbered gen or less that is not done. Only queued
// and in-flight entries can: that is at most the busy conversations, not all those ever seen.
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

// dispatch is the Marker's one long-lived goroutine: it starts due sends, and sleeps until the next mark
// is due, the rate-limit hold ends, a send ends or a mark arrives.
func (m *Marker) dispatch() {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		var fire <-chan time.Time
		if next := m.startDue(); !next.IsZero() {
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

// startDue starts the sends that are due, as many as the concurrency allows, and returns when the next
// one will be due, or zero when only a send ending or a new mark can start another.
func (m *Marker) startDue() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.aborting || m.queue.Len() == 0 {
		return time.Time{}
	}
	now := time.Now()
	if now.Before(m.holdUntil) {
		return m.holdUntil
	}
	for m.queue.Len() > 0 && len(m.inFlight) < m.concurrency {
		e := m.queue[0]
		if m.flushers == 0 && e.dueAt.After(now) {
			return e.dueAt
		}
		heap.Pop(&m.queue)
		e.sending, e.sendingGen, e.pending = e.pending, e.pendingGen, ""
		m.inFlight[e] = struct{}{}
		seq := e.sending
		m.goTracked(func() { m.send(e, seq) })
	}
	return time.Time{}
}

// send sends one conversation's mark and settles the entry with the outcome.
func (m *Marker) send(e *markEntry, seq string) {
	// The Marker waits out a 429 for all conversations at once (hold), so the Client must not wait alone.
	_, err := m.client.markRead(m.ctx, e.id, seq, callOptions{})

	m.mu.Lock()
	delete(m.inFlight, e)
	e.sending = ""
	failed := false
	switch {
	case err == nil:
		if higher(seq, e.sent) {
			e.sent = seq
		}
		m.holdBackoff = 0
	case errors.Is(err, ErrRateLimited) && !m.aborting:
		m.hold(err)
		// Not a failure: the mark goes back in the queue, unless a newer one there covers it.
		if e.pending == "" {
			e.pending = seq
		}
		e.pendingGen, e.dueAt = e.sendingGen, time.Now()
	default:
		failed = true
		m.recordFailure(e.id, seq, err)
	}
	if e.pending != "" {
		heap.Push(&m.queue, e)
	}
	m.notifyFlushers()
	m.mu.Unlock()

	m.nudge()
	if failed && m.onError != nil {
		m.onError(e.id, seq, err)
	}
}

// hold stops every send from starting until X's limit resets: the limit is per user, so the other
// conversations would only collect 429s too.
func (m *Marker) hold(err error) {
	now := time.Now()
	var until time.Time
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		until = apiErr.RetryAt()
	}
	if !until.After(now) {
		if now.Before(m.holdUntil) {
			// A send that was in flight when the hold began: the hold already covers it.
			return
		}
		m.holdBackoff = min(max(2*m.holdBackoff, markHoldMin), markHoldMax)
		until = now.Add(m.holdBackoff)
	}
	if limit := now.Add(maxMarkHold); until.After(limit) {
		until = limit
	}
	if until.After(m.holdUntil) {
		m.holdUntil = until
	}
}

// recordFailure keeps a failure for Flush. The caller holds m.mu.
func (m *Marker) recordFailure(id, seq string, err error) {
	if len(m.failures) == maxHeldFailures {
		m.dropped++
		return
	}
	m.failures = append(m.failures, fmt.Errorf("markread: marking conversation %s read up to %s: %w", quoteInput(id), quoteInput(seq), err))
}

// takeFailures returns the failures kept since the last call, joined. The caller holds m.mu.
func (m *Marker) takeFailures() error {
	failures := m.failures
	if m.dropped > 0 {
		failures = append(failures, fmt.Errorf("markread: %d more marks failed", m.dropped))
	}
	m.failures, m.dropped = nil, 0
	return errors.Join(failures...)
}

// notifyFlushers wakes the Flush calls waiting. The caller holds m.mu.
func (m *Marker) notifyFlushers() {
	if m.flushers > 0 {
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

// goTracked runs f in a goroutine that Close waits for.
func (m *Marker) goTracked(f func()) {
	m.running.Add(1)
	m.wg.Go(func() {
		defer m.running.Add(-1)
		f()
	})
}

// validateMarkSequenceID accepts decimal ASCII digits only: the Marker must order sequence IDs.
func validateMarkSequenceID(seq string) error {
	if err := validateSequenceID(seq); err != nil {
		return err
	}
	if !allDigits(seq) {
		return fmt.Errorf("%w %s: the Marker orders sequence IDs, so it takes decimal ASCII digits only",
			ErrInvalidSequenceID, quoteInput(seq))
	}
	return nil
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

// markQueue is a min-heap of entries by dueAt. The delay is the same for every mark, but a mark that
// waited for a send in flight, or for a 429, is queued behind younger ones.
type markQueue []*markEntry

func (q markQueue) Len() int           { return len(q) }
func (q markQueue) Less(i, j int) bool { return q[i].dueAt.Before(q[j].dueAt) }
func (q markQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *markQueue) Push(x any)        { *q = append(*q, x.(*markEntry)) }
func (q *markQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return e
}
