package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const markerTestToken = "marker-test-token-5f3a9c"

// markerRequest is one request the marker server received.
type markerRequest struct {
	conv, seq string
	at        time.Time // when it arrived
}

// markerServer is a loopback X that records what it is sent: every request, the highest mark it
// applied per conversation (compared as numbers), and how many requests overlapped, in all and per
// conversation. answer decides each response; nil answers 200.
type markerServer struct {
	t   testing.TB
	srv *httptest.Server

	answer func(r markerRequest) (status int, header http.Header)

	mu         sync.Mutex
	requests   []markerRequest
	applied    map[string]string
	current    int
	maxCurrent int
	perConv    map[string]int
	maxPerConv int
}

func newMarkerServer(t testing.TB, answer func(r markerRequest) (int, http.Header)) *markerServer {
	t.Helper()
	ms := &markerServer{t: t, answer: answer, applied: map[string]string{}, perConv: map[string]int{}}
	ms.srv = httptest.NewServer(http.HandlerFunc(ms.serve))
	t.Cleanup(ms.srv.Close)
	return ms
}

func (ms *markerServer) serve(w http.ResponseWriter, r *http.Request) {
	const prefix, suffix = "/prefix/2/chat/conversations/", "/read"
	if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, prefix) || !strings.HasSuffix(r.URL.Path, suffix) {
		ms.t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
		return
	}
	if got := r.Header.Get("Authorization"); got != "Bearer "+markerTestToken {
		ms.t.Errorf("Authorization header %q", got)
	}
	var body struct {
		Seq string `json:"seen_until_sequence_id"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		ms.t.Errorf("decoding the body: %v", err)
	}
	req := markerRequest{conv: strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, prefix), suffix), seq: body.Seq, at: time.Now()}

	ms.mu.Lock()
	ms.requests = append(ms.requests, req)
	ms.current++
	ms.maxCurrent = max(ms.maxCurrent, ms.current)
	ms.perConv[req.conv]++
	ms.maxPerConv = max(ms.maxPerConv, ms.perConv[req.conv])
	ms.mu.Unlock()

	status, header := http.StatusOK, http.Header(nil)
	if ms.answer != nil {
		status, header = ms.answer(req)
	}

	ms.mu.Lock()
	ms.current--
	ms.perConv[req.conv]--
	if status == http.StatusOK && higher(req.seq, ms.applied[req.conv]) {
		ms.applied[req.conv] = req.seq
	}
	ms.mu.Unlock()

	for k, v := range header {
		w.Header()[k] = v
	}
	if status == http.StatusOK {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"data":{"success":true}}`))
		return
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, `{"type":"https://api.x.com/2/problems/invalid-request","title":"HTTP %d","status":%d}`, status, status)
}

func (ms *markerServer) snapshot() (requests []markerRequest, applied map[string]string) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	applied = make(map[string]string, len(ms.applied))
	for k, v := range ms.applied {
		applied[k] = v
	}
	return append([]markerRequest(nil), ms.requests...), applied
}

// overlap returns the most requests the server had at once, in all and for one conversation.
func (ms *markerServer) overlap() (all, perConversation int) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.maxCurrent, ms.maxPerConv
}

func (ms *markerServer) requestCount() int {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return len(ms.requests)
}

// client returns a Client for the server with quick backoff, and opts.
func (ms *markerServer) client(t testing.TB, opts ...Option) *Client {
	t.Helper()
	opts = append([]Option{
		WithBaseURL(ms.srv.URL + "/prefix"),
		WithToken(markerTestToken),
		WithBackoff(time.Millisecond, 5*time.Millisecond),
	}, opts...)
	c, err := NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newTestMarker returns a Marker closed at the end of the test, if the test did not close it.
func newTestMarker(t *testing.T, c *Client, opts ...MarkerOption) *Marker {
	t.Helper()
	m := NewMarker(c, opts...)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Close(ctx); err != nil && !errors.Is(err, ErrMarkerClosed) {
			t.Errorf("Close at cleanup: %v", err)
		}
		if n := m.running.Load(); n != 0 {
			t.Errorf("%d Marker goroutines survive Close", n)
		}
	})
	return m
}

// flush calls Flush with a generous deadline, for tests where nothing is meant to hold it.
func flush(t *testing.T, m *Marker) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return m.Flush(ctx)
}

// closeMarker calls Close with a generous deadline.
func closeMarker(t *testing.T, m *Marker) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return m.Close(ctx)
}

// gate blocks server handlers until it is opened, by the test or, whatever happens, at cleanup, so that
// a failing test cannot leave handlers blocked and the server's Close waiting for them.
type gate struct {
	once sync.Once
	ch   chan struct{}
}

func newGate() *gate                   { return &gate{ch: make(chan struct{})} }
func (g *gate) wait()                  { <-g.ch }
func (g *gate) open()                  { g.once.Do(func() { close(g.ch) }) }
func (g *gate) openAtEnd(t *testing.T) { t.Cleanup(g.open) }

func mustMark(t *testing.T, m *Marker, conv, seq string) {
	t.Helper()
	if err := m.Mark(conv, seq); err != nil {
		t.Fatalf("Mark(%q, %q): %v", conv, seq, err)
	}
}

// eventually polls cond until it holds, failing the test after a generous deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// failureLog collects what the error handler is told.
type failureLog struct {
	mu   sync.Mutex
	seen []markerFailure
}

type markerFailure struct {
	conv, seq string
	err       error
}

func (l *failureLog) handler(conv, seq string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen = append(l.seen, markerFailure{conv, seq, err})
}

func (l *failureLog) all() []markerFailure {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]markerFailure(nil), l.seen...)
}

func TestCompareSeq(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"9", "10", -1},
		{"10", "9", 1},
		{"10", "10", 0},
		{"010", "10", 0},
		{"0", "000", 0},
		{"0", "1", -1},
		{"19", "91", -1},
		{"99999999999999999999999999", "100000000000000000000000000", -1},
		{"18446744073709551616", "18446744073709551615", 1}, // past uint64
		{"0000000000000000000000000002", "3", -1},
	}
	for _, tt := range tests {
		if got := compareSeq(tt.a, tt.b); got != tt.want {
			t.Errorf("compareSeq(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := compareSeq(tt.b, tt.a); got != -tt.want {
			t.Errorf("compareSeq(%q, %q) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
	}
}

func TestMarkerCoalescesABurst(t *testing.T) {
	ms := newMarkerServer(t, nil)
	// A delay longer than the test: only Flush sends, so the count is exact.
	m := newTestMarker(t, ms.client(t), WithMarkDelay(time.Hour))
	for _, i := range rand.Perm(1000) {
		mustMark(t, m, "g42", strconv.Itoa(i+1))
	}
	if err := flush(t, m); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	requests, _ := ms.snapshot()
	if len(requests) != 1 || requests[0].conv != "g42" || requests[0].seq != "1000" {
		t.Fatalf("requests = %+v, want one for g42 up to 1000", requests)
	}
}

func TestMarkerSendsAfterTheDelayWithoutFlush(t *testing.T) {
	ms := newMarkerServer(t, nil)
	m := newTestMarker(t, ms.client(t), WithMarkDelay(5*time.Millisecond))
	for i := 1; i <= 1000; i++ {
		mustMark(t, m, "123-456", strconv.Itoa(i))
	}
	eventually(t, "the burst's highest mark is applied", func() bool {
		_, applied := ms.snapshot()
		return applied["123-456"] == "1000"
	})
	requests, _ := ms.snapshot()
	for i := 1; i < len(requests); i++ {
		if !higher(requests[i].seq, requests[i-1].seq) {
			t.Errorf("request %d sent %s after %s", i, requests[i].seq, requests[i-1].seq)
		}
	}
	if len(requests) >= 1000 {
		t.Errorf("%d requests for 1000 marks: nothing coalesced", len(requests))
	}
}

func TestMarkerOrdersSequenceIDsAsNumbers(t *testing.T) {
	tests := []struct {
		marks []string
		want  string
	}{
		{[]string{"9", "10"}, "10"},
		{[]string{"10", "9"}, "10"},
		{[]string{"010", "10", "9"}, "010"}, // equal to 10: the first is kept, as given
		{[]string{"100", "99", "0100", "101"}, "101"},
		{[]string{"99999999999999999999999", "100000000000000000000000", "99999999999999999999998"}, "100000000000000000000000"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.marks, ","), func(t *testing.T) {
			ms := newMarkerServer(t, nil)
			m := newTestMarker(t, ms.client(t), WithMarkDelay(time.Hour))
			for _, seq := range tt.marks {
				mustMark(t, m, "7", seq)
			}
			if err := flush(t, m); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			requests, _ := ms.snapshot()
			if len(requests) != 1 || requests[0].seq != tt.want {
				t.Fatalf("requests = %+v, want one up to %s", requests, tt.want)
			}
		})
	}
}

func TestMarkerDropsMarksCoveredBySent(t *testing.T) {
	ms := newMarkerServer(t, nil)
	m := newTestMarker(t, ms.client(t), WithMarkDelay(time.Hour))
	steps := []struct {
		seq  string
		want int // requests after Flush
	}{
		{"50", 1},
		{"7", 1},
		{"50", 1},
		{"0050", 1},
		{"51", 2},
		{"9", 2},
	}
	for _, s := range steps {
		mustMark(t, m, "g1", s.seq)
		if err := flush(t, m); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		if got := ms.requestCount(); got != s.want {
			t.Fatalf("after marking %s: %d requests, want %d", s.seq, got, s.want)
		}
	}
	if _, applied := ms.snapshot(); applied["g1"] != "51" {
		t.Fatalf("applied %q, want 51", applied["g1"])
	}
}

func TestMarkerOneSendInFlightPerConversation(t *testing.T) {
	release := newGate()
	var first atomic.Bool
	ms := newMarkerServer(t, func(r markerRequest) (int, http.Header) {
		if first.CompareAndSwap(false, true) {
			release.wait()
		}
		return http.StatusOK, nil
	})
	m := newTestMarker(t, ms.client(t), WithMarkDelay(0), WithMarkConcurrency(8))
	release.openAtEnd(t)
	mustMark(t, m, "g9", "1")
	eventually(t, "the first send reaches the server", func() bool { return ms.requestCount() == 1 })
	for i := 2; i <= 50; i++ {
		mustMark(t, m, "g9", strconv.Itoa(i))
	}
	// Another conversation is not held up by g9's send in flight.
	mustMark(t, m, "g10", "5")
	eventually(t, "g10 is applied while g9's send is blocked", func() bool {
		_, applied := ms.snapshot()
		return applied["g10"] == "5"
	})
	release.open()
	if err := flush(t, m); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	requests, applied := ms.snapshot()
	var g9 []string
	for _, r := range requests {
		if r.conv == "g9" {
			g9 = append(g9, r.seq)
		}
	}
	if strings.Join(g9, ",") != "1,50" {
		t.Errorf("g9 was sent %v, want [1 50]: the marks made during the send coalesce", g9)
	}
	if applied["g9"] != "50" {
		t.Errorf("g9 applied %q, want 50", applied["g9"])
	}
	if _, perConv := ms.overlap(); perConv != 1 {
		t.Errorf("%d requests in flight at once for one conversation, want 1", perConv)
	}
}

func TestMarkerDropsMarksCoveredByASendInFlight(t *testing.T) {
	release := newGate()
	ms := newMarkerServer(t, func(r markerRequest) (int, http.Header) {
		release.wait()
		return http.StatusOK, nil
	})
	m := newTestMarker(t, ms.client(t), WithMarkDelay(0))
	release.openAtEnd(t)
	mustMark(t, m, "g5", "10")
	eventually(t, "the send reaches the server", func() bool { return ms.requestCount() == 1 })
	for _, seq := range []string{"7", "10", "010", "9"} {
		mustMark(t, m, "g5", seq)
	}
	release.open()
	if err := flush(t, m); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if requests, _ := ms.snapshot(); len(requests) != 1 {
		t.Errorf("requests = %+v, want only the first: the others are covered by it", requests)
	}
}

func TestMarkerBoundsConcurrency(t *testing.T) {
	const n = 3
	release := newGate()
	ms := newMarkerServer(t, func(r markerRequest) (int, http.Header) {
		release.wait()
		return http.StatusOK, nil
	})
	m := newTestMarker(t, ms.client(t), WithMarkDelay(0), WithMarkConcurrency(n))
	release.openAtEnd(t)
	for i := range 20 {
		mustMark(t, m, strconv.Itoa(1000+i), "1")
	}
	eventually(t, "the server holds n requests", func() bool { return ms.requestCount() >= n })
	// Give an unbounded Marker the chance to send more before the first ones are answered.
	time.Sleep(50 * time.Millisecond)
	if got := ms.requestCount(); got != n {
		t.Errorf("%d requests in flight, want %d", got, n)
	}
	release.open()
	if err := flush(t, m); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	_, applied := ms.snapshot()
	if len(applied) != 20 {
		t.Errorf("%d conversations applied, want 20", len(applied))
	}
	if all, _ := ms.overlap(); all != n {
		t.Errorf("at most %d requests at once, want %d", all, n)
	}
}

// rateLimitHeader is what X sends with a 429.
func rateLimitHeader(reset time.Time) http.Header {
	h := http.Header{}
	h.Set("x-rate-limit-limit", "100")
	h.Set("x-rate-limit-remaining", "0")
	h.Set("x-rate-limit-reset", strconv.FormatInt(reset.Unix(), 10))
	return h
}

func (m *Marker) held() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return time.Now().Before(m.holdUntil)
}

func TestMarkerHoldsEveryConversationUntilTheRateLimitResets(t *testing.T) {
	// At least a second away: the header has whole seconds.
	reset := time.Unix(time.Now().Unix()+2, 0)
	var limited atomic.Bool
	ms := newMarkerServer(t, func(r markerRequest) (int, http.Header) {
		if limited.CompareAndSwap(false, true) {
			return http.StatusTooManyRequests, rateLimitHeader(reset)
		}
		return http.StatusOK, nil
	})
	var failures failureLog
	// WithMaxRateLimitWait(0): the Client hands the 429 back at once, so the Marker does the waiting.
	m := newTestMarker(t, ms.client(t, WithMaxRateLimitWait(0)), WithMarkDelay(0), WithMarkErrorHandler(failures.handler))
	mustMark(t, m, "g1", "1")
	eventually(t, "the Marker holds after the 429", m.held)
	mustMark(t, m, "g1", "2") // merged with the held mark
	mustMark(t, m, "g2", "1") // another conversation: held too, the limit is per user
	if err := flush(t, m); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	requests, applied := ms.snapshot()
	if len(requests) != 3 {
		t.Fatalf("requests = %+v, want the 429 and one each for g1 and g2", requests)
	}
	for _, r := range requests[1:] {
		if r.at.Before(reset) {
			t.Errorf("%s up to %s was sent at %v, before the reset at %v", r.conv, r.seq, r.at, reset)
		}
	}
	if applied["g1"] != "2" || applied["g2"] != "1" {
		t.Errorf("applied %v, want g1:2 g2:1", applied)
	}
	if f := failures.all(); len(f) != 0 {
		t.Errorf("a 429 was reported as a failure: %+v", f)
	}
}

func TestMarkerBacksOffOnARateLimitWithoutReset(t *testing.T) {
	var limited atomic.Bool
	ms := newMarkerServer(t, func(r markerRequest) (int, http.Header) {
		if limited.CompareAndSwap(false, true) {
			return http.StatusTooManyRequests, nil
		}
		return http.StatusOK, nil
	})
	// No retries in the Client, so the Marker sees the first 429.
	m := newTestMarker(t, ms.client(t, WithMaxRetries(0)), WithMarkDelay(0))
	mustMark(t, m, "55", "3")
	if err := flush(t, m); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	requests, _ := ms.snapshot()
	if len(requests) != 2 {
		t.Fatalf("requests = %+v, want the 429 and its resend", requests)
	}
	if gap := requests[1].at.Sub(requests[0].at); gap < markHoldMin {
		t.Errorf("resent after %v, want at least %v", gap, markHoldMin)
	}
}

func TestMarkerFlushHonoursContextAndCloseReportsUnsent(t *testing.T) {
	ms := newMarkerServer(t, func(r markerRequest) (int, http.Header) {
		return http.StatusTooManyRequests, rateLimitHeader(time.Now().Add(time.Hour))
	})
	var failures failureLog
	m := newTestMarker(t, ms.client(t), WithMarkDelay(0), WithMarkErrorHandler(failures.handler))
	mustMark(t, m, "g1", "10")
	eventually(t, "the Marker holds after the 429", m.held)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := m.Flush(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "1 conversation still pending") {
		t.Fatalf("Flush = %v, want the deadline and 1 conversation still pending", err)
	}
	// Still pending: a newer mark merges with it, and another Flush waits for it again.
	mustMark(t, m, "g1", "11")
	mustMark(t, m, "g2", "1")
	ctx2, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if err := m.Flush(ctx2); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "2 conversations still pending") {
		t.Fatalf("second Flush = %v, want the deadline and 2 conversations still pending", err)
	}

	expired, cancel3 := context.WithCancel(context.Background())
	cancel3()
	err = m.Close(expired)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrMarkerClosed) {
		t.Fatalf("Close = %v, want context.Canceled and ErrMarkerClosed", err)
	}
	for _, want := range []string{`"g1" read up to "11"`, `"g2" read up to "1"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Close's error %q does not name %s", err, want)
		}
	}
	got := map[string]string{}
	for _, f := range failures.all() {
		if !errors.Is(f.err, ErrMarkerClosed) {
			t.Errorf("handler got %v for %s, want ErrMarkerClosed", f.err, f.conv)
		}
		got[f.conv] = f.seq
	}
	if len(got) != 2 || got["g1"] != "11" || got["g2"] != "1" {
		t.Errorf("handler was told %v, want g1:11 and g2:1", got)
	}
	if n := ms.requestCount(); n != 1 {
		t.Errorf("%d requests, want only the one that got the 429", n)
	}
	if n := m.running.Load(); n != 0 {
		t.Errorf("%d goroutines survive Close", n)
	}
}

func TestMarkerCloseCancelsASendInFlight(t *testing.T) {
	unblock := newGate()
	ms := newMarkerServer(t, func(r markerRequest) (int, http.Header) {
		unblock.wait()
		return http.StatusOK, nil
	})
	var failures failureLog
	m := newTestMarker(t, ms.client(t), WithMarkDelay(0), WithMarkErrorHandler(failures.handler))
	unblock.openAtEnd(t)
	mustMark(t, m, "g1", "1")
	eventually(t, "the send reaches the server", func() bool { return ms.requestCount() == 1 })
	mustMark(t, m, "g1", "2") // waits behind the send in flight

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := m.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v, want the deadline", err)
	}
	got := map[string]bool{}
	for _, f := range failures.all() {
		got[f.conv+":"+f.seq] = true
	}
	if !got["g1:1"] || !got["g1:2"] || len(got) != 2 {
		t.Errorf("handler was told %v, want g1:1 (cancelled) and g1:2 (never sent)", got)
	}
	if n := m.running.Load(); n != 0 {
		t.Errorf("%d goroutines survive Close", n)
	}
}

func TestMarkerReportsPermanentFailures(t *testing.T) {
	ms := newMarkerServer(t, func(r markerRequest) (int, http.Header) {
		if r.seq == "5" {
			return http.StatusBadRequest, nil
		}
		return http.StatusOK, nil
	})
	var failures failureLog
	m := newTestMarker(t, ms.client(t), WithMarkDelay(time.Hour), WithMarkErrorHandler(failures.handler))
	mustMark(t, m, "g3", "5")
	err := flush(t, m)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || !strings.Contains(err.Error(), `"g3" read up to "5"`) {
		t.Fatalf("Flush = %v, want the 400 for g3 up to 5", err)
	}
	f := failures.all()
	if len(f) != 1 || f[0].conv != "g3" || f[0].seq != "5" || !errors.As(f[0].err, &apiErr) || apiErr.StatusCode != 400 {
		t.Fatalf("handler was told %+v, want the 400 for g3 up to 5", f)
	}
	if err := flush(t, m); err != nil {
		t.Errorf("second Flush = %v, want nil: failures are returned once", err)
	}
	// The failed mark covers nothing: a lower one is still sent.
	mustMark(t, m, "g3", "4")
	if err := flush(t, m); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if _, applied := ms.snapshot(); applied["g3"] != "4" {
		t.Errorf("applied %q, want 4", applied["g3"])
	}
}

func TestMarkerFailureKeepsANewerMark(t *testing.T) {
	release := newGate()
	ms := newMarkerServer(t, func(r markerRequest) (int, http.Header) {
		if r.seq == "1" {
			release.wait()
			return http.StatusForbidden, nil
		}
		return http.StatusOK, nil
	})
	var failures failureLog
	m := newTestMarker(t, ms.client(t), WithMarkDelay(0), WithMarkErrorHandler(failures.handler))
	release.openAtEnd(t)
	mustMark(t, m, "g3", "1")
	eventually(t, "the send reaches the server", func() bool { return ms.requestCount() == 1 })
	mustMark(t, m, "g3", "2")
	release.open()
	err := flush(t, m)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusForbidden {
		t.Fatalf("Flush = %v, want the 403", err)
	}
	if _, applied := ms.snapshot(); applied["g3"] != "2" {
		t.Errorf("applied %q, want 2: the newer mark is sent after the failure", applied["g3"])
	}
	if f := failures.all(); len(f) != 1 || f[0].seq != "1" {
		t.Errorf("handler was told %+v, want only the failure of 1", f)
	}
}

func TestMarkerRejectsInvalidInput(t *testing.T) {
	ms := newMarkerServer(t, nil)
	m := newTestMarker(t, ms.client(t), WithMarkDelay(0))
	tests := []struct {
		conv, seq string
		want      error
	}{
		{"", "1", ErrInvalidConversationID},
		{"abc", "1", ErrInvalidConversationID},
		{"12:34", "1", ErrInvalidConversationID}, // must go through NormalizeConversationID
		{"g", "1", ErrInvalidConversationID},
		{"12345678901234567890", "1", ErrInvalidConversationID},
		{"g1", "", ErrInvalidSequenceID},
		{"g1", "1a", ErrInvalidSequenceID},
		{"g1", "-1", ErrInvalidSequenceID},
		{"g1", "+1", ErrInvalidSequenceID},
		{"g1", " 1", ErrInvalidSequenceID},
		{"g1", "1.5", ErrInvalidSequenceID},
		{"g1", "１", ErrInvalidSequenceID}, // a fullwidth digit
		{"g1", "1\n", ErrInvalidSequenceID},
	}
	for _, tt := range tests {
		err := m.Mark(tt.conv, tt.seq)
		if !errors.Is(err, tt.want) {
			t.Errorf("Mark(%q, %q) = %v, want %v", tt.conv, tt.seq, err, tt.want)
		}
	}
	if err := flush(t, m); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	m.mu.Lock()
	entries := len(m.entries)
	m.mu.Unlock()
	if entries != 0 || ms.requestCount() != 0 {
		t.Errorf("%d entries, %d requests after invalid input only, want none", entries, ms.requestCount())
	}
}

func TestMarkerAfterClose(t *testing.T) {
	ms := newMarkerServer(t, nil)
	m := newTestMarker(t, ms.client(t), WithMarkDelay(time.Hour))
	mustMark(t, m, "g8", "3")
	if err := closeMarker(t, m); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, applied := ms.snapshot(); applied["g8"] != "3" {
		t.Errorf("Close did not send the pending mark: applied %v", applied)
	}
	if err := m.Mark("g8", "4"); !errors.Is(err, ErrMarkerClosed) {
		t.Errorf("Mark after Close = %v, want ErrMarkerClosed", err)
	}
	if err := flush(t, m); !errors.Is(err, ErrMarkerClosed) {
		t.Errorf("Flush after Close = %v, want ErrMarkerClosed", err)
	}
	if err := closeMarker(t, m); !errors.Is(err, ErrMarkerClosed) {
		t.Errorf("second Close = %v, want ErrMarkerClosed", err)
	}
	if n := ms.requestCount(); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestMarkerCloseLeavesNoGoroutine(t *testing.T) {
	ms := newMarkerServer(t, nil)
	c := ms.client(t)
	before := runtime.NumGoroutine()
	m := NewMarker(c, WithMarkDelay(time.Millisecond), WithMarkConcurrency(8))
	for i := range 100 {
		mustMark(t, m, strconv.Itoa(i+1), "1")
	}
	if err := closeMarker(t, m); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Deterministic: every goroutine the Marker starts is counted.
	if n := m.running.Load(); n != 0 {
		t.Fatalf("%d Marker goroutines survive Close", n)
	}
	// And from the outside, once the HTTP connections (not the Marker's) are gone.
	c.httpClient.CloseIdleConnections()
	eventually(t, "the goroutine count is back to where it was", func() bool {
		return runtime.NumGoroutine() <= before
	})
}

func TestMarkerOptionsPanicOnValuesThatCannotWork(t *testing.T) {
	ms := newMarkerServer(t, nil)
	c := ms.client(t)
	for name, f := range map[string]func(){
		"nil client":    func() { NewMarker(nil) },
		"nil option":    func() { NewMarker(c, nil) },
		"negative":      func() { NewMarker(c, WithMarkDelay(-time.Second)) },
		"concurrency 0": func() { NewMarker(c, WithMarkConcurrency(0)) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

// TestMarkerLosesNothingUnderStress marks from many goroutines against a server that fails some answers,
// and checks that every conversation's highest accepted mark was applied or reported as failed.
func TestMarkerLosesNothingUnderStress(t *testing.T) {
	const goroutines, marksEach, conversations = 16, 500, 50
	ms := newMarkerServer(t, func(r markerRequest) (int, http.Header) {
		if rand.N(100) < 20 {
			return http.StatusInternalServerError, nil
		}
		return http.StatusOK, nil
	})
	var failures failureLog
	// One retry only, so that some marks do fail for good.
	m := newTestMarker(t, ms.client(t, WithMaxRetries(1)),
		WithMarkDelay(0), WithMarkConcurrency(8), WithMarkErrorHandler(failures.handler))

	var counters [conversations]atomic.Int64
	var mu sync.Mutex
	accepted := map[string]string{} // the highest mark Mark accepted, per conversation
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range marksEach {
				i := rand.N(conversations)
				conv := "g" + strconv.Itoa(i)
				// Increasing per conversation, but the goroutines race, so marks arrive out of order,
				// and the numbers cross 9→10 and 99→100.
				seq := strconv.FormatInt(counters[i].Add(1), 10)
				if err := m.Mark(conv, seq); err != nil {
					t.Errorf("Mark: %v", err)
					return
				}
				mu.Lock()
				if higher(seq, accepted[conv]) {
					accepted[conv] = seq
				}
				mu.Unlock()
				// Pauses let sends start between marks, so that marks race with sends in flight.
				if rand.N(3) == 0 {
					time.Sleep(200 * time.Microsecond)
				}
			}
		})
	}
	wg.Wait()
	closeErr := closeMarker(t, m)

	_, applied := ms.snapshot()
	failed := map[string]bool{}
	for _, f := range failures.all() {
		failed[f.conv+":"+f.seq] = true
	}
	for conv, seq := range accepted {
		if applied[conv] != seq && !failed[conv+":"+seq] {
			t.Errorf("%s: highest accepted mark %s was neither applied (server has %q) nor reported", conv, seq, applied[conv])
		}
		if higher(applied[conv], seq) {
			t.Errorf("%s: server applied %s, above the highest mark %s", conv, applied[conv], seq)
		}
	}
	if (closeErr != nil) != (len(failed) > 0) {
		t.Errorf("Close = %v with %d failures reported to the handler", closeErr, len(failed))
	}
	all, perConv := ms.overlap()
	if perConv != 1 {
		t.Errorf("%d requests at once for one conversation, want 1", perConv)
	}
	if all > 8 {
		t.Errorf("%d requests at once, want at most 8", all)
	}
	t.Logf("%d marks, %d requests (retries included), %d failures reported", goroutines*marksEach, ms.requestCount(), len(failed))
}
