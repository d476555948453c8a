package api

import (
	"errors"
	"time"

	"golang.org/x/oauth2"
)

// The Marker's bookkeeping structures. None is safe for concurrent use: the Marker guards them with its
// lock.

// markQueue is a min-heap of entries by their due time. The delay is the same for every mark, so the
// oldest pending conversation comes first; a mark that waited for a send in flight, a 429 or a backoff is
// queued behind younger ones.
type markQueue []*markEntry

func (q markQueue) Len() int           { return len(q) }
func (q markQueue) Less(i, j int) bool { return q[i].at.Before(q[j].at) }
func (q markQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *markQueue) Push(x any)        { *q = append(*q, x.(*markEntry)) }
func (q *markQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return e
}

// idleList links the idle entries in the order they became idle, which is the order their retention
// ends in: forgetting is a walk from the head. The links live in the entries, so that remembering a
// conversation costs no allocation beyond its entry.
type idleList struct{ head, tail *markEntry }

func (l *idleList) pushBack(e *markEntry) {
	e.prev, e.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = e
	} else {
		l.head = e
	}
	l.tail = e
}

// remove unlinks e; an entry not in the list is left alone.
func (l *idleList) remove(e *markEntry) {
	if e.prev == nil && l.head != e {
		return
	}
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		l.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		l.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

// genQueue holds the gens of the marks not yet resolved (confirmed, failed, or merged into an older
// unresolved one), so that Flush can tell in constant time whether any mark it waits for is left. Gens are
// pushed in increasing order; a resolved gen leaves the queue once every older one has.
type genQueue struct {
	gens     []uint64
	head     int
	resolved map[uint64]struct{}
}

func (q *genQueue) push(gen uint64) { q.gens = append(q.gens, gen) }

func (q *genQueue) resolve(gen uint64) {
	if q.resolved == nil {
		q.resolved = make(map[uint64]struct{})
	}
	q.resolved[gen] = struct{}{}
	for q.head < len(q.gens) {
		if _, ok := q.resolved[q.gens[q.head]]; !ok {
			break
		}
		delete(q.resolved, q.gens[q.head])
		q.head++
	}
	if q.head == len(q.gens) {
		q.gens, q.head = q.gens[:0], 0
	}
}

// holdsUpTo reports whether a mark numbered gen or less is unresolved.
func (q *genQueue) holdsUpTo(gen uint64) bool {
	return q.head < len(q.gens) && q.gens[q.head] <= gen
}

// compact gives back the memory of a queue that was long and is now mostly spent.
func (q *genQueue) compact() {
	live := len(q.gens) - q.head
	if c := cap(q.gens); c >= minRebuild && live < c/4 {
		q.gens, q.head = append(make([]uint64, 0, 2*live), q.gens[q.head:]...), 0
	}
	if len(q.resolved) == 0 {
		q.resolved = nil // maps never shrink
	}
}

// rateWindow is what the answers said of X's current rate-limit window.
type rateWindow struct {
	reset     time.Time // when the window starts over; zero when unknown
	remaining int       // the lowest count of requests left that an answer gave
}

func (w rateWindow) known() bool { return !w.reset.IsZero() }

// oauthCannotHeal reports whether a token-source failure is an OAuth refusal that only a person can mend:
// the refresh token is spent or revoked (invalid_grant), or the app's credentials are wrong
// (invalid_client, unauthorized_client). Retrying those would only repeat them.
func oauthCannotHeal(err error) bool {
	if errors.Is(err, ErrLoginRequired) {
		return true
	}
	var retrieveErr *oauth2.RetrieveError
	if !errors.As(err, &retrieveErr) {
		return false
	}
	switch retrieveErr.ErrorCode {
	case "invalid_grant", "invalid_client", "unauthorized_client":
		return true
	}
	return false
}
