package api_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/oauth2"

	"github.com/xchat-go/markread/api"
	"github.com/xchat-go/markread/api/apitest"
)

// Every Marker test runs inside a synctest bubble against apitest's fake X, served in process: time is
// fake, so holds, backoffs, pacing and retention are checked to the nanosecond without waiting, and
// synctest.Test fails if a goroutine of the Marker outlives the test.

// markerClient returns a Client that sends through rt: apitest's in-process transport, or a wrapper of it.
func markerClient(t *testing.T, rt http.RoundTripper, opts ...api.Option) *api.Client {
	t.Helper()
	c, err := api.NewClient(append([]api.Option{
		api.WithBaseURL("http://127.0.0.1"),
		api.WithToken(apitest.DefaultToken),
		api.WithHTTPClient(&http.Client{Transport: rt}),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newTestMarker returns a Marker that is closed at the end of the test if the test did not close it, so
// that a test that stops early still ends the Marker's goroutines.
func newTestMarker(t *testing.T, c *api.Client, opts ...api.MarkerOption) *api.Marker {
	t.Helper()
	m, err := api.NewMarker(c, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = m.Close(ctx)
	})
	return m
}

// flushWithin calls Flush with a deadline d away on the bubble's clock.
func flushWithin(m *api.Marker, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return m.Flush(ctx)
}

// flush calls Flush with a deadline far beyond anything a test holds for.
func flush(m *api.Marker) error { return flushWithin(m, 24*time.Hour) }

func closeWithin(m *api.Marker, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return m.Close(ctx)
}

func mustMark(t *testing.T, m *api.Marker, conv, seq string) {
	t.Helper()
	if err := m.Mark(conv, seq); err != nil {
		t.Fatalf("Mark(%q, %q): %v", conv, seq, err)
	}
}

func readState(h *apitest.Handler, conv string) string {
	seq, _ := h.ReadState(apitest.DefaultToken, conv)
	return seq
}

// sentSeqs returns the sequence IDs X applied for conv, in order.
func sentSeqs(h *apitest.Handler, conv string) []string {
	var seqs []string
	for _, mk := range h.Marks() {
		if mk.ConversationID == conv {
			seqs = append(seqs, mk.SequenceID)
		}
	}
	return seqs
}

// checkBalance checks, once the Marker is quiet, that every accepted mark is accounted for: coalesced
// into another, confirmed in a send of its own, or failed.
func checkBalance(t *testing.T, m *api.Marker) {
	t.Helper()
	s := m.Stats()
	if s.Pending != 0 || s.InFlight != 0 {
		t.Errorf("Stats = %+v: want nothing pending or in flight", s)
	}
	if s.Marked != s.Coalesced+s.Confirmed+s.Failed {
		t.Errorf("Stats = %+v: Marked %d != Coalesced %d + Confirmed %d + Failed %d", s, s.Marked, s.Coalesced, s.Confirmed, s.Failed)
	}
}

// higherSeq reports whether a is above b as unsigned decimal integers without leading zeros; "" is below
// everything. The tests' own, on purpose: the Marker's comparison is what they check.
func higherSeq(a, b string) bool {
	return b == "" || len(a) > len(b) || len(a) == len(b) && a > b
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
	return slices.Clone(l.seen)
}

// logRecorder is a slog.Handler that keeps every record.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, r.Clone())
	return nil
}

// with returns the attributes of every record whose message contains msg. It is called inside a synctest
// bubble, once the Marker's goroutines have written what they had: the Marker logs just after releasing
// its lock, so a Flush can return before the line is written.
func (l *logRecorder) with(msg string) []map[string]slog.Value {
	synctest.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]slog.Value
	for _, r := range l.records {
		if strings.Contains(r.Message, msg) {
			attrs := map[string]slog.Value{}
			r.Attrs(func(a slog.Attr) bool {
				attrs[a.Key] = a.Value
				return true
			})
			out = append(out, attrs)
		}
	}
	return out
}

// transportFunc adapts a function to http.RoundTripper, for wrappers of apitest's transport.
type transportFunc func(*http.Request) (*http.Response, error)

func (f transportFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// conversationOf returns the conversation ID of a request to the endpoint.
func conversationOf(r *http.Request) string {
	return strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/2/chat/conversations/"), "/read")
}

// overlapWatch wraps a transport and records the most requests it had at once, in all and for one
// conversation.
type overlapWatch struct {
	next http.RoundTripper

	mu              sync.Mutex
	now, max        int
	perConv         map[string]int
	maxConversation int
}

func (w *overlapWatch) RoundTrip(r *http.Request) (*http.Response, error) {
	conv := conversationOf(r)
	w.mu.Lock()
	if w.perConv == nil {
		w.perConv = map[string]int{}
	}
	w.now++
	w.perConv[conv]++
	w.max, w.maxConversation = max(w.max, w.now), max(w.maxConversation, w.perConv[conv])
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.now--
		w.perConv[conv]--
		w.mu.Unlock()
	}()
	return w.next.RoundTrip(r)
}

func (w *overlapWatch) most() (all, oneConversation int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.max, w.maxConversation
}

// flakyTokens fails its first fails calls (all of them if fails is negative), then hands out apitest's
// token.
type flakyTokens struct {
	mu    sync.Mutex
	fails int
	err   error
	calls []time.Time
}

func (s *flakyTokens) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, time.Now())
	if s.fails != 0 {
		s.fails--
		return nil, s.err
	}
	return &oauth2.Token{AccessToken: apitest.DefaultToken, TokenType: "Bearer"}, nil
}

func TestMarkerCoalescesABurst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := apitest.NewHandler()
		// A delay longer than the test: only Flush sends, so the count is exact.
		m := newTestMarker(t, markerClient(t, h.Transport()), api.WithMarkDelay(time.Hour))
		for _, i := range rand.Perm(1000) {
			mustMark(t, m, "g42", strconv.Itoa(i+1))
		}
		if err := flush(m); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		if got := sentSeqs(h, "g42"); h.Requests() != 1 || !slices.Equal(got, []string{"1000"}) {
			t.Fatalf("%d requests applying %v, want one up to 1000", h.Requests(), got)
		}
		s := m.Stats()
		if s.Marked != 1000 || s.Coalesced != 999 || s.Confirmed != 1 || s.Requests != 1 || s.Tracked != 1 {
			t.Errorf("Stats = %+v, want 1000 marked, 999 coalesced, 1 confirmed, 1 request, 1 tracked", s)
		}
		if err := closeWithin(m, time.Minute); err != nil {
			t.Fatalf("Close: %v", err)
		}
		checkBalance(t, m)
	})
}

func TestMarkerSendsAfterTheDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const delay = 250 * time.Millisecond
		h := apitest.NewHandler()
		m := newTestMarker(t, markerClient(t, h.Transport()), api.WithMarkDelay(delay))
		start := time.Now()
		for i := 1; i <= 1000; i++ {
			mustMark(t, m, "123-456", strconv.Itoa(i))
		}
		time.Sleep(delay - time.Nanosecond)
		synctest.Wait()
		if n := h.Requests(); n != 0 {
			t.Fatalf("%d requests before the delay is over", n)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		marks := h.Marks()
		if len(marks) != 1 || marks[0].SequenceID != "1000" || !marks[0].Time.Equal(start.Add(delay)) {
			t.Fatalf("marks = %+v, want one up to 1000 at %v", marks, start.Add(delay))
		}
		if err := closeWithin(m, time.Minute); err != nil {
			t.Fatalf("Close: %v", err)
		}
	})
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
			synctest.Test(t, func(t *testing.T) {
				h := apitest.NewHandler()
				m := newTestMarker(t, markerClient(t, h.Transport()), api.WithMarkDelay(time.Hour))
				for _, seq := range tt.marks {
					mustMark(t, m, "7", seq)
				}
				if err := closeWithin(m, time.Minute); err != nil {
					t.Fatalf("Close: %v", err)
				}
				if got := sentSeqs(h, "7"); !slices.Equal(got, []string{tt.want}) {
					t.Fatalf("sent %v, want only %s", got, tt.want)
				}
			})
		})
	}
}

func TestMarkerDropsMarksCoveredByConfirmed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := apitest.NewHandler()
		m := newTestMarker(t, markerClient(t, h.Transport()), api.WithMarkDelay(time.Hour))
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
			if err := flush(m); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			if got := h.Requests(); got != s.want {
				t.Fatalf("after marking %s: %d requests, want %d", s.seq, got, s.want)
			}
		}
		if got := readState(h, "g1"); got != "51" {
			t.Fatalf("read up to %q, want 51", got)
		}
		if s := m.Stats(); s.Coalesced != 4 || s.Confirmed != 2 {
			t.Errorf("Stats = %+v, want 4 coalesced, 2 confirmed", s)
		}
		if err := closeWithin(m, time.Minute); err != nil {
			t.Fatalf("Close: %v", err)
		}
		checkBalance(t, m)
	})
}

func TestMarkerOneSendInFlightPerConversation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := apitest.NewHandler(apitest.WithLatency(time.Second))
		watch := &overlapWatch{next: h.Transport()}
		m := newTestMarker(t, markerClient(t, watch), api.WithMarkDelay(0), api.WithMarkConcurrency(8))
		mustMark(t, m, "g9", "1")
		synctest.Wait()
		for i := 2; i <= 50; i++ {
			mustMark(t, m, "g9", strconv.Itoa(i))
		}
		// Another conversation is not held up by g9's send in flight.
		mustMark(t, m, "g10", "5")
		synctest.Wait()
		if s := m.Stats(); h.Requests() != 2 || s.InFlight != 2 || s.Pending != 1 {
			t.Fatalf("%d requests, Stats %+v: want g9's first send and g10's in flight, g9's next pending", h.Requests(), s)
		}
		if err := flush(m); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		if got := sentSeqs(h, "g9"); !slices.Equal(got, []string{"1", "50"}) {
			t.Errorf("g9 was sent %v, want [1 50]: the marks made during the send coalesce", got)
		}
		if readState(h, "g10") != "5" {
			t.Errorf("g10 read up to %q, want 5", readState(h, "g10"))
		}
		if _, perConv := watch.most(); perConv != 1 {
			t.Errorf("%d requests in flight at once for one conversation, want 1", perConv)
		}
		if err := closeWithin(m, time.Minute); err != nil {
			t.Fatalf("Close: %v", err)
		}
		checkBalance(t, m)
	})
}

func TestMarkerDropsMarksCoveredByASendInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := apitest.NewHandler(apitest.WithLatency(time.Second))
		m := newTestMarker(t, markerClient(t, h.Transport()), api.WithMarkDelay(0))
		mustMark(t, m, "g5", "10")
		synctest.Wait()
		for _, seq := range []string{"7", "10", "010", "9"} {
			mustMark(t, m, "g5", seq)
		}
		if err := closeWithin(m, time.Minute); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if n := h.Requests(); n != 1 {
			t.Errorf("%d requests, want only the first: the others are covered by it", n)
		}
		if s := m.Stats(); s.Coalesced != 4 {
			t.Errorf("Stats = %+v, want 4 coalesced", s)
		}
		checkBalance(t, m)
	})
}

func TestMarkerBoundsConcurrency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 3
		h := apitest.NewHandler(apitest.WithLatency(time.Second))
		watch := &overlapWatch{next: h.Transport()}
		m := newTestMarker(t, markerClient(t, watch), api.WithMarkDelay(0), api.WithMarkConcurrency(n))
		for i := range 20 {
			mustMark(t, m, strconv.Itoa(1000+i), "1")
		}
		synctest.Wait()
		if s := m.Stats(); h.Requests() != n || s.InFlight != n || s.Pending != 20-n {
			t.Fatalf("%d requests, Stats %+v: want %d in flight and the rest pending", h.Requests(), s, n)
		}
		if err := closeWithin(m, time.Minute); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if got := len(h.Marks()); got != 20 {
			t.Errorf("%d conversations marked, want 20", got)
		}
		if all, _ := watch.most(); all != n {
			t.Errorf("at most %d requests at once, want %d", all, n)
		}
	})
}

func TestMarkerHoldsEveryConversationUntilTheRateLimitResets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := apitest.NewHandler(apitest.WithRateLimit(100, time.Minute))
		var logs logRecorder
		var failures failureLog
		c := markerClient(t, h.Transport(), api.WithLogger(slog.New(&logs)))
		m := newTestMarker(t, c, api.WithMarkDelay(0), api.WithMarkErrorHandler(failures.handler))
		start := time.Now()
		reset := start.Add(time.Minute) // the window opens with the first request
		mustMark(t, m, "g1", "1")
		synctest.Wait()
		// X says 429 although the window has requests left, as it does for its 24-hour limits.
		h.FailNext(1, http.StatusTooManyRequests)
		mustMark(t, m, "g1", "2")
		synctest.Wait()
		mustMark(t, m, "g1", "3") // merged with the held mark
		mustMark(t, m, "g2", "1") // another conversation: held too, the limit is per user
		synctest.Wait()
		s := m.Stats()
		if h.Requests() != 2 || s.RateLimited != 1 || !s.HeldUntil.Equal(reset) || s.Pending != 2 {
			t.Fatalf("%d requests, Stats %+v: want the 429 held until %v with 2 pending", h.Requests(), s, reset)
		}
		holds := logs.with("holding every conversation")
		if len(holds) != 1 || !holds[0]["until"].Time().Equal(reset) || holds[0]["pending"].Int64() != 1 {
			t.Errorf("hold logged as %v, want one line with the reset and 1 pending", holds)
		}
		if err := flush(m); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		for _, mk := range h.Marks()[1:] {
			if mk.Time.Before(reset) {
				t.Errorf("%s up to %s was sent at %v, before the reset at %v", mk.ConversationID, mk.SequenceID, mk.Time, reset)
			}
		}
		if readState(h, "g1") != "3" || readState(h, "g2") != "1" {
			t.Errorf("read up to g1:%s g2:%s, want g1:3 g2:1", readState(h, "g1"), readState(h, "g2"))
		}
		if ends := logs.with("hold over"); len(ends) != 1 {
			t.Errorf("hold end logged %d times, want once", len(ends))
		}
		if f := failures.all(); len(f) != 0 {
			t.Errorf("a 429 was reported as a failure: %+v", f)
		}
		if s := m.Stats(); !s.HeldUntil.IsZero() {
			t.Errorf("HeldUntil = %v after the hold", s.HeldUntil)
		}
		if err := closeWithin(m, time.Minute); err != nil {
			t.Fatalf("Close: %v", err)
		}
		checkBalance(t, m)
	})
}

// withoutRateLimitHeaders strips what a 429 says about when to come back, as some of X's answers do.
func withoutRateLimitHeaders(next http.RoundTripper) http.RoundTripper {
	return transportFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := next.RoundTrip(r)
		if err == nil && resp.StatusCode == http.StatusTooManyRequests {
			for _, name := range []string{"X-Rate-Limit-Limit", "X-Rate-Limit-Remaining", "X-Rate-Limit-Reset", "Retry-After"} {
				resp.Header.Del(name)
			}
		}
		return resp, err
	})
}

func TestMarkerBacksOffOnARateLimitWithoutReset(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := apitest.NewHandler()
		m := newTestMarker(t, markerClient(t, withoutRateLimitHeaders(h.Transport())), api.WithMarkDelay(0))
		h.FailNext(3, http.StatusTooManyRequests)
		start := time.Now()
		mustMark(t, m, "55", "3")
		if err := flush(m); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		// Three holds of backoff(1s, 2s, 4s) with equal jitter: half of each fixed, half random.
		marks := h.Marks()
		if h.Requests() != 4 || len(marks) != 1 {
			t.Fatalf("%d requests, marks %+v: want 3 429s and then the mark", h.Requests(), marks)
		}
		if took := marks[0].Time.Sub(start); took < 3500*time.Millisecond || took > 7*time.Second {
			t.Errorf("the mark was applied %v after the first try, want between 3.5s and 7s: holds of 1s, 2s and 4s with jitter", took)
		}
		if err := closeWithin(m, time.Minute); err != nil {
			t.Fatalf("Close: %v", err)
		}
	})
}

func TestMarkerBoundsAWindowResetYearsAway(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := apitest.NewHandler()
		first := true
		var mu sync.Mutex
		hostile := transportFunc(func(r *http.Request) (*http.Response, error) {
			resp, err := h.Transport().RoundTrip(r)
			mu.Lock()
			defer mu.Unlock()
			if err == nil && first {
				first = false
				resp.Header.Set("X-Rate-Limit-Remaining", "0")
				resp.Header.Set("X-Rate-Limit-Reset", "253402300799") // the last second of year 9999
			}
			return resp, err
		})
		m := newTestMarker(t, markerClient(t, hostile), api.WithMarkDelay(0))
		const maxMarkHold = 24 * time.Hour // X's longest window
		start := time.Now()
		mustMark(t, m, "g1", "1")
		synctest.Wait()
		mustMark(t, m, "g1", "2")
		synctest.Wait()
		if s := m.Stats(); !s.HeldUntil.Equal(start.Add(maxMarkHold)) {
			t.Fatalf("HeldUntil = %v, want %v: a day at most", s.HeldUntil, start.Add(maxMarkHold))
		}
		if err := flushWithin(m, 2*maxMarkHold); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		if marks := h.Marks(); len(marks) != 2 || !marks[1].Time.Equal(start.Add(maxMarkHold)) {
			t.Errorf("marks %+v, want the second a day after the first", marks)
		}
		if err := closeWithin(m, time.Minute); err != nil {
			t.Fatalf("Close: %v", err)
		}
	})
}

func TestMarkerFlushWaitsForTheWindowAndCloseReportsUnsent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := apitest.NewHandler(apitest.WithRateLimit(1, time.Hour))
		var failures failureLog
		m := newTestMarker(t, markerClient(t, h.Transport()), api.WithMarkDelay(0), api.WithMarkErrorHandler(failures.handler))
		mustMark(t, m, "g1", "10")
		if err := flush(m); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		// The window's one request is spent: the next mark waits for its reset, an hour away.
		mustMark(t, m, "g1", "11")
		err := flushWithin(m, time.Second)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "1 conversation still pending") {
			t.Fatalf("Flush = %v, want the deadline and 1 conversation still pending", err)
		}
		if s := m.Stats(); !s.HeldUntil.After(time.Now()) {
			t.Errorf("Stats = %+v, want HeldUntil at the window's reset", s)
		}
		// Still pending: another Flush waits for it again, and for a new conversation.
		mustMark(t, m, "g2", "1")
		if err := flushWithin(m, time.Second); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "2 conversations still pending") {
			t.Fatalf("second Flush = %v, want the deadline and 2 conversations still pending", err)
		}
		expired, cancel := context.WithCancel(context.Background())
		cancel()
		err = m.Close(expired)
		if !errors.Is(err, context.Canceled) || !errors.Is(err, api.ErrMarkerClosed) {
			t.Fatalf("Close = %v, want context.Canceled and api.ErrMarkerClosed", err)
		}
		for _, want := range []string{`"g1" read up to "11"`, `"g2" read up to "1"`} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Close's error %q does not name %s", err, want)
			}
		}
		synctest.Wait() // the workers tell the handler after Close returns
		got := map[string]string{}
		for _, f := range failures.all() {
			if !errors.Is(f.err, api.ErrMarkerClosed) {
				t.Errorf("handler got %v for %s, want api.ErrMarkerClosed", f.err, f.conv)
			}
			got[f.conv] = f.seq
		}
		if len(got) != 2 || got["g1"] != "11" || got["g2"] != "1" {
			t.Errorf("handler was told %v, want g1:11 and g2:1", got)
		}
		if n, s := h.Requests(), m.Stats(); n != 1 || s.RateLimited != 0 || s.Failed != 2 {
			t.Errorf("%d requests, Stats %+v: want 1 request, no 429 and 2 failed", n, s)
		}
		checkBalance(t, m)
	})
}

func TestMarkerCloseCancelsASendInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := apitest.NewHandler(apitest.WithLatency(time.Hour))
		var failures failureLog
		m := newTestMarker(t, markerClient(t, h.Transport()), api.WithMarkDelay(0), api.WithMarkErrorHandler(failures.handler))
		mustMark(t, m, "g1", "1")
		synctest.Wait()
		mustMark(t, m, "g1", "2") // waits behind the send in flight
		start := time.Now()
		err := closeWithin(m, time.Second)
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, api.ErrMarkerClosed) {
			t.Fatalf("Close = %v, want the deadline and api.ErrMarkerClosed", err)
		}
		if waited := time.Since(start); waited != time.Second {
			t.Errorf("Close returned after %v, want its 1s deadline", waited)
		}
		synctest.Wait()
		got := map[string]bool{}
		for _, f := range failures.all() {
			got[f.conv+":"+f.seq] = errors.Is(f.err, api.ErrMarkerClosed)
		}
		if !got["g1:1"] || !got["g1:2"] || len(got) != 2 {
			t.Errorf("handler was told %v, want g1:1 (cancelled) and g1:2 (never sent), both api.ErrMarkerClosed", got)
		}
		if _, ok := h.ReadState(apitest.DefaultToken, "g1"); ok {
			t.Error("the cancelled mark was applied")
		}
		checkBalance(t, m)
	})
}

// slowSource is a token source that takes its time and knows no context, as x/oauth2's own do.
type slowSource struct{ d time.Duration }

func (s slowSource) Token() (*oauth2.Token, error) {
	time.Sleep(s.d)
	return &oauth2.Token{AccessToken: apitest.DefaultToken}, nil
}

// Close keeps its deadline even while a send waits on a token source that ignores cancellation; the
// send's mark, and the one behind it, reach the handler when it ends.
func TestMarkerCloseKeepsItsDeadlineWhileATokenSourceIgnoresIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := apitest.NewHandler()
		var failures failureLog
		m := newTestMarker(t, markerClient(t, h.Transport(), api.WithTokenSource(slowSource{time.Minute})),
			api.WithMarkDelay(0), api.WithMarkErrorHandler(failures.handler))
		mustMark(t, m, "g1", "1")
		synctest.Wait()
		mustMark(t, m, "g1", "2")
		start := time.Now()
		if err := closeWithin(m, time.Second); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close = %v, want the deadline", err)
		}
		if waited := time.Since(start); waited != time.Second {
			t.Errorf("Close returned after %v, want its 1s deadline", waited)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		got := map[string]bool{}
		for _, f := range failures.all() {
			got[f.conv+":"+f.seq] = errors.Is(f.err, api.ErrMarkerClosed)
		}
		if !got["g1:1"] || !got["g1:2"] || len(got) != 2 {
			t.Errorf("handler was told %v, want g1:1 and g1:2, both api.ErrMarkerClosed", got)
		}
	})
}

func TestMarkerCloseKeepsItsDeadlineWhileTheHandlerBlocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := apitest.NewHandler()
		release := make(chan struct{})
		var called sync.WaitGroup
		called.Add(2)
		m := newTestMarker(t, markerClient(t, h.Transport()), api.WithMarkDelay(0),
			api.WithMarkErrorHandler(func(string, string, error) {
				called.Done()
				<-release
			}))
		h.FailNext(1, http.StatusForbidden)
		mustMark(t, m, "g1", "1")
		synctest.Wait() // the 403 reaches the handler, which blocks
		mustMark(t, m, "g2", "1")
		synctest.Wait()
		if s := m.Stats(); s.Confirmed != 1 || s.Failed != 1 {
			t.Fatalf("Stats = %+v: a blocked handler must not stop other sends", s)
		}
		// A mark that Close will give up on, reported to the same blocking handler.
		h.SetLatency(time.Hour)
		mustMark(t, m, "g3", "1")
		synctest.Wait()
		start := time.Now()
		err := closeWithin(m, 5*time.Second)
		if waited := time.Since(start); waited != 5*time.Second {
			t.Errorf("Close returned after %v, want its 5s deadline", waited)
		}
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), `"g1" read up to "1"`) ||
			!strings.Contains(err.Error(), `"g3" read up to "1"`) {
			t.Errorf("Close = %v, want the deadline and both failures", err)
		}
		called.Wait()
		// Only the goroutines inside the handler are left; they end when it returns, or
		// synctest.Test fails this test.
		close(release)
	})
}

func TestMarkerCloseWaitsForTheHandlerWithinItsDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := apitest.NewHandler()
		var handled sync.WaitGroup
		handled.Add(1)
		m := newTestMarker(t, markerClient(t, h.Transport()), api.WithMarkDelay(0),
			api.WithMarkErrorHandler(func(string, string, error) {
				time.Sleep(2 * time.Second) // a slow handler, within Close's deadline
				handled.Done()
			}))
		h.FailNext(1, http.StatusBadRequest)
		mustMark(t, m, "g1", "1")
		synctest.Wait()
		start := time.Now()
		err := closeWithin(m, time.Minute)
		if waited := time.Since(start); waited != 2*time.Second {
			t.Errorf("Close returned after %v, want 2s: the handler's call", waited)
		}
		var apiErr *api.APIError
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest {
			t.Errorf("Close = %v, want the 400", err)
		}
		handled.Wait()
	})
}

func TestMarkerReportsRefusals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := apitest.NewHandler()
		var failures failureLog
		var logs logRecorder
		c := markerClient(t, h.Transport(), api.WithLogger(slog.New(&logs)))
		m := newTestMarker(t, c, api.WithMarkDelay(time.Hour), api.WithMarkErrorHandler(failures.handler))
		h.FailNext(1, http.StatusBadRequest)
		mustMark(t, m, "g3", "5")
		err := flush(m)
		var apiErr *api.APIError
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || !strings.Contains(err.Error(), `"g3" read up to "5"`) {
			t.Fatalf("Flush = %v, want the 400 for g3 up to 5", err)
		}
		synctest.Wait()
		f := failures.all()
		if len(f) != 1 || f[0].conv != "g3" || f[0].seq != "5" || !errors.As(f[0].err, &apiErr) || apiErr.StatusCode != 400 {
			t.Fatalf("handler was told %+v, want the 400 for g3 up to 5", f)
		}
		if lines := logs.with("gave up on a mark"); len(lines) != 1 || lines[0]["conversation"].String() != "g3" {
			t.Errorf("failure logged as %v, want one line naming g3", lines)
		}
		if err := flush(m); err != nil {
			t.Errorf("second Flush = %v, want nil: failures are returned once", err)
		}
		// The failed mark covers nothing: a lower one is still sent.
		mustMark(t, m, "g3", "4")
		if err := flush(m); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		if got := readState(h, "g3"); got != "4" {
			t.Errorf("read up to %q, want 4", got)
		}
		if s := m.Stats(); s.Failed != 1 || s.Confirmed != 1 || s.Retried != 0 {
			t.Errorf("Stats = %+v, want 1 failed, 1 confirmed, nothing retried", s)
		}
		if err := closeWithin(m, time.Minute); err != nil {
			t.Fatalf("Close: %v", err)
		}
		checkBalance(t, m)
	})
}

func TestMarkerFailureKeepsANewerMark(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := apitest.NewHandler(apitest.WithLatency(time.Second))
		var failures failureLog
		m := newTestMarker(t, markerClient(t, h.Transport()), api.WithMarkDelay(0), api.WithMarkErrorHandler(failures.handler))
		h.FailNext(1, http.StatusForbidden)
		mustMark(t, m, "g3", "1")
		synctest.Wait()
		mustMark(t, m, "g3", "2")
		err := flush(m)
		var apiErr *api.APIError
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusForbidden {
			t.Fatalf("Flush = %v, want the 403", err)
		}
		if got := readState(h, "g3"); got != "2" {
			t.Errorf("read up to %q, want 2: the newer mark is sent after the failure", got)
		}
		synctest.Wait()
		if f := failures.all(); len(f) != 1 || f[0].seq != "1" {
			t.Errorf("handler was told %+v, want only the failure of 1", f)
		}
		if err := closeWithin(m, time.Minute); err != nil {
			t.Fatalf("Close: %v", err)
		}
		checkBalance(t, m)
	})
}

func TestMarkerRetriesTransientFaults(t *testing.T) {
	tests := []struct {
		name   string
		inject func(h *apitest.Handler, tokens *flakyTokens)
	}{
		{"token source", func(_ *apitest.Handler, tokens *flakyTokens) {
			tokens.fails, tokens.err = 5, errors.New("refresh endpoint unreachable")
		}},
		{"token endpoint 503", func(_ *apitest.Handler, tokens *flakyTokens) {
			tokens.fails, tokens.err = 5, &oauth2.RetrieveError{Response: &http.Response{StatusCode: 503}, ErrorCode: "temporarily_unavailable"}
		}},
		// Each send is one attempt: the Client's retries are not stacked under the Marker's.
		{"dropped connections", func(h *apitest.Handler, _ *flakyTokens) { h.DropNext(5) }},
		{"503", func(h *apitest.Handler, _ *flakyTokens) { h.FailNext(5, http.StatusServiceUnavailable) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := apitest.NewHandler()
				tokens := &flakyTokens{}
				tt.inject(h, tokens)
				var logs logRecorder
				var failures failureLog
				c := markerClient(t, h.Transport(), api.WithTokenSource(tokens), api.WithLogger(slog.New(&logs)))
				m := newTestMarker(t, c, api.WithMarkDelay(0), api.WithMarkErrorHandler(failures.handler))
				start := time.Now()
				mustMark(t, m, "g1", "7")
				if err := flush(m); err != nil {
					t.Fatalf("Flush = %v, want the mark confirmed in the end", err)
				}
				if got := readState(h, "g1"); got != "7" {
					t.Fatalf("read up to %q, want 7", got)
				}
				s := m.Stats()
				if s.Retried != 5 || s.Failed != 0 || s.Confirmed != 1 || len(failures.all()) != 0 {
					t.Errorf("Stats = %+v, failures %v: want 5 retried, 1 confirmed, nothing failed", s, failures.all())
				}
				// Backoffs of at least 0.5s, 1s, 2s, 4s and 8s (equal jitter keeps half of 1s, 2s, …).
				if took := time.Since(start); took < 15500*time.Millisecond {
					t.Errorf("confirmed after %v, want the backoffs to add up to at least 15.5s", took)
				}
				retries := logs.with("will retry a mark")
				if len(retries) != 5 || retries[0]["conversation"].String() != "g1" || retries[4]["faults"].Int64() != 5 {
					t.Errorf("retries logged as %v, want 5 lines naming g1", retries)
				}
				if err := closeWithin(m, time.Minute); err != nil {
					t.Fatalf("Close: %v", err)
				}
				checkBalance(t, m)
			})
		})
	}
}

func TestMarkerTransientBackoffIsCapped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := apitest.NewHandler()
		tokens := &flakyTokens{fails: 40, err: errors.New("refresh endpoint unreachable")}
		m := newTestMarker(t, markerClient(t, h.Transport(), api.WithTokenSource(tokens)), api.WithMarkDelay(0))
		const markRetryMax = 5 * time.Minute // the documented cap
		mustMark(t, m, "g1", "7")
		if err := flush(m); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		tokens.mu.Lock()
		tries := tokens.calls
		tokens.mu.Unlock()
		if len(tries) != 41 {
			t.Fatalf("%d tries, want 41", len(tries))
		}
		var longest time.Duration
		for i := 1; i < len(tries); i++ {
			gap := tries[i].Sub(tries[i-1])
			if gap > markRetryMax {
				t.Fatalf("try %d came %v after the one before, beyond the %v cap", i, gap, markRetryMax)
			}
			longest = max(longest, gap)
		}
		if longest < markRetryMax/2 {
			t.Errorf("the longest backoff was %v: it never reached the cap's range", longest)
		}
		if got := readState(h, "g1"); got != "7" {
			t.Fatalf("read up to %q, want 7", got)
		}
		if err := closeWithin(m, time.Minute); err != nil {
			t.Fatalf("Close: %v", err)
		}
	})
}

func TestMarkerFailsOnAnOAuthErrorThatCannotHeal(t *testing.T) {
	for _, code := range []string{"invalid_grant", "invalid_client"} {
		t.Run(code, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := apitest.NewHandler()
				tokens := &flakyTokens{fails: 1, err: &oauth2.RetrieveError{Response: &http.Response{StatusCode: 400}, ErrorCode: code}}
				var failures failureLog
				m := newTestMarker(t, markerClient(t, h.Transport(), api.WithTokenSource(tokens)),
					api.WithMarkDelay(0), api.WithMarkErrorHandler(failures.handler))
				mustMark(t, m, "g1", "7")
				err := flush(m)
				var retrieveErr *oauth2.RetrieveError
				if !errors.Is(err, api.ErrNoToken) || !errors.As(err, &retrieveErr) || retrieveErr.ErrorCode != code {
					t.Fatalf("Flush = %v, want the token source's %s", err, code)
				}
				synctest.Wait()
				if f := failures.all(); len(f) != 1 || !errors.Is(f[0].err, api.ErrNoToken) {
					t.Errorf("handler was told %+v, want the %s", f, code)
				}
				if s := m.Stats(); s.Failed != 1 || s.Retried != 0 || s.Requests != 0 || h.Requests() != 0 {
					t.Errorf("Stats = %+v, %d requests: want 1 failed, nothing retried or sent", s, h.Requests())
				}
				if err := closeWithin(m, time.Minute); err != nil {
					t.Fatalf("Close: %v", err)
				}
			})
		})
	}
}

func TestMarkerCloseGivesUpOnATransientFaultAndNamesIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := apitest.NewHandler()
		unreachable := errors.New("refresh endpoint unreachable")
		tokens := &flakyTokens{fails: -1, err: unreachable} // never heals
		m := newTestMarker(t, markerClient(t, h.Transport(), api.WithTokenSource(tokens)), api.WithMarkDelay(0))
		mustMark(t, m, "g1", "7")
		err := closeWithin(m, time.Minute)
		if !errors.Is(err, api.ErrMarkerClosed) || !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, api.ErrNoToken) ||
			!errors.Is(err, unreachable) || !strings.Contains(err.Error(), "its last try failed: no OAuth 2.0 access token: refresh endpoint unreachable") {
			t.Fatalf("Close = %v, want api.ErrMarkerClosed, the deadline and the last fault", err)
		}
		if s := m.Stats(); s.Failed != 1 || s.Retried == 0 {
			t.Errorf("Stats = %+v, want retries and then 1 failed", s)
		}
		checkBalance(t, m)
	})
}

func TestMarkerPacingLeavesABotWithinBudgetAlone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := apitest.NewHandler(apitest.WithRateLimit(60, time.Minute))
		m := newTestMarker(t, markerClient(t, h.Transport()))
		start := time.Now()
		// 50 bursts in the first second: within the window's 60 requests.
		for i := range 50 {
			mustMark(t, m, "g"+strconv.Itoa(i), "1")
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(api.DefaultMarkDelay)
		synctest.Wait()
		for i, mk := range h.Marks() {
			if due := start.Add(time.Duration(i)*20*time.Millisecond + api.DefaultMarkDelay); !mk.Time.Equal(due) {
				t.Fatalf("%s sent at %v, want %v: after the usual delay", mk.ConversationID, mk.Time.Sub(start), due.Sub(start))
			}
		}
		if n := len(h.Marks()); n != 50 {
			t.Fatalf("%d sent, want 50", n)
		}
		if err := closeWithin(m, time.Minute); err != nil {
			t.Fatalf("Close: %v", err)
		}
	})
}

func TestMarkerPacesSendsOverTheWindowOldestFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const limit, window, conversations = 10, time.Minute, 30
		h := apitest.NewHandler(apitest.WithRateLimit(limit, window))
		var logs logRecorder
		m := newTestMarker(t, markerClient(t, h.Transport(), api.WithLogger(slog.New(&logs))))
		start := time.Now()
		var order []string
		for i := range conversations {
			conv := "g" + strconv.Itoa(i)
			order = append(order, conv)
			mustMark(t, m, conv, "1")
			time.Sleep(time.Millisecond)
		}
		// g0 keeps being read: its later marks coalesce while it waits for its turn, and it does not
		// jump the queue.
		for seq := 2; seq <= 100; seq++ {
			mustMark(t, m, "g0", strconv.Itoa(seq))
			time.Sleep(500 * time.Millisecond)
		}
		if err := flush(m); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		s := m.Stats()
		if s.RateLimited != 0 {
			t.Errorf("%d 429s, want none: pacing keeps within the window", s.RateLimited)
		}
		for _, conv := range order {
			want := "1"
			if conv == "g0" {
				want = "100"
			}
			if got := readState(h, conv); got != want {
				t.Errorf("%s read up to %q, want %s", conv, got, want)
			}
		}
		// The first 30 sends serve the 30 conversations oldest first (sends that start together may
		// reach X in any order); g0's second send waits its turn.
		firstSent := map[string]time.Time{}
		for _, mk := range h.Marks()[:conversations] {
			firstSent[mk.ConversationID] = mk.Time
		}
		for i := 1; i < len(order); i++ {
			if a, b := firstSent[order[i-1]], firstSent[order[i]]; b.IsZero() || b.Before(a) {
				t.Errorf("%s was first sent at %v, %s at %v: want the marking order", order[i-1], a.Sub(start), order[i], b.Sub(start))
			}
		}
		// Each window of the fake serves at most limit requests, spread rather than spent at once.
		perWindow := map[int]int{}
		for _, mk := range h.Marks() {
			perWindow[int(mk.Time.Sub(start)/window)]++
		}
		if early := h.Marks()[limit-1].Time.Sub(start); early < window/2 {
			t.Errorf("the window's %dth send went out after %v: spent at once, not spread", limit, early)
		}
		for w, n := range perWindow {
			if n > limit {
				t.Errorf("window %d served %d requests, over its %d", w, n, limit)
			}
		}
		if len(logs.with("holding every conversation")) == 0 {
			t.Error("no hold logged when the window's requests ran out")
		}
		if err := closeWithin(m, time.Minute); err != nil {
			t.Fatalf("Close: %v", err)
		}
		checkBalance(t, m)
	})
}

func TestMarkerWithoutPacingCollects429s(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := apitest.NewHandler(apitest.WithRateLimit(10, time.Minute))
		m := newTestMarker(t, markerClient(t, h.Transport()), api.WithMarkPacing(false))
		for i := range 30 {
			mustMark(t, m, "g"+strconv.Itoa(i), "1")
		}
		if err := flush(m); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		if s := m.Stats(); s.RateLimited == 0 || s.Confirmed != 30 {
			t.Errorf("Stats = %+v, want 429s and every conversation confirmed", s)
		}
		if err := closeWithin(m, time.Minute); err != nil {
			t.Fatalf("Close: %v", err)
		}
	})
}

func TestMarkerFlushSkipsPacingNotTheBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := apitest.NewHandler(apitest.WithRateLimit(10, time.Minute))
		m := newTestMarker(t, markerClient(t, h.Transport()), api.WithMarkDelay(time.Hour))
		mustMark(t, m, "g0", "1")
		if err := flush(m); err != nil { // learns the window: 9 requests left
			t.Fatalf("Flush: %v", err)
		}
		start := time.Now()
		for i := 1; i <= 19; i++ { // the 9 requests left in this window, and the next window's 10
			mustMark(t, m, "g"+strconv.Itoa(i), "1")
		}
		if err := flush(m); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		marks := h.Marks()[1:]
		for i, mk := range marks {
			wantAt := start // the window's 9 requests left go at once
			if i >= 9 {
				wantAt = start.Add(time.Minute) // the rest at its reset, within the next window
			}
			if mk.Time.Before(wantAt) || mk.Time.After(wantAt.Add(time.Second)) {
				t.Errorf("send %d at %v, want at %v", i+1, mk.Time.Sub(start), wantAt.Sub(start))
			}
		}
		if s := m.Stats(); s.RateLimited != 0 || len(marks) != 19 {
			t.Errorf("Stats = %+v, %d sent: want all 19 sent and no 429", s, len(marks))
		}
		if err := closeWithin(m, time.Minute); err != nil {
			t.Fatalf("Close: %v", err)
		}
	})
}

// okTransport answers every mark at once, the way X confirms one, without apitest's bookkeeping: for
// tests that send a great many requests.
type okTransport struct{}

func (okTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_ = r.Body.Close()
	}
	const body = `{"data":{"success":true}}`
	return &http.Response{
		StatusCode:    http.StatusOK,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       r,
	}, nil
}

func TestMarkerForgetsIdleConversationsAfterTheRetention(t *testing.T) {
	// The full million, with the heap, runs in make bench (bench/marker_memory_test.go); under the race
	// detector a million sends take minutes.
	const n = 10_000
	synctest.Test(t, func(t *testing.T) {
		h := apitest.NewHandler()
		rt := transportFunc(func(r *http.Request) (*http.Response, error) {
			if conversationOf(r) == "g0" {
				return h.Transport().RoundTrip(r) // the conversation the test looks at closely
			}
			return okTransport{}.RoundTrip(r)
		})
		const retention = 10 * time.Minute
		m := newTestMarker(t, markerClient(t, rt), api.WithMarkRetention(retention))
		for i := range n {
			mustMark(t, m, "g"+strconv.Itoa(i), "100")
		}
		if err := flush(m); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		confirmedAt := time.Now()
		if s := m.Stats(); s.Tracked != n || s.Confirmed != uint64(n) {
			t.Fatalf("Stats = %+v, want %d tracked and confirmed", s, n)
		}
		// Within the retention a late, lower mark is covered.
		time.Sleep(retention)
		mustMark(t, m, "g0", "99")
		synctest.Wait()
		if s := m.Stats(); s.Tracked != n || s.Coalesced != 1 {
			t.Fatalf("Stats = %+v when the retention ends, want all %d tracked and the late mark covered", s, n)
		}
		// Forgotten before twice the retention.
		time.Sleep(retention)
		synctest.Wait()
		if s := m.Stats(); s.Tracked != 0 {
			t.Fatalf("Stats = %+v %v after the last confirmation, want nothing tracked", s, time.Since(confirmedAt))
		}
		// Forgotten: a late, lower mark is sent again.
		mustMark(t, m, "g0", "99")
		if err := flush(m); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		if got := sentSeqs(h, "g0"); !slices.Equal(got, []string{"100", "99"}) {
			t.Errorf("g0 was sent %v, want 100 and, once forgotten, 99", got)
		}
		if readState(h, "g0") != "100" {
			t.Errorf("X moved g0 back to %s", readState(h, "g0"))
		}
		if err := closeWithin(m, time.Minute); err != nil {
			t.Fatalf("Close: %v", err)
		}
	})
}

func TestMarkerRetentionCountsFromTheLastConfirmation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := apitest.NewHandler()
		m := newTestMarker(t, markerClient(t, h.Transport()), api.WithMarkDelay(0), api.WithMarkRetention(time.Minute))
		mustMark(t, m, "g1", "1")
		mustMark(t, m, "g2", "1")
		synctest.Wait()
		time.Sleep(100 * time.Second)
		mustMark(t, m, "g1", "2") // busy again: remembered for a retention from this confirmation
		synctest.Wait()
		time.Sleep(time.Minute - time.Nanosecond)
		synctest.Wait()
		if s := m.Stats(); s.Tracked != 1 {
			t.Fatalf("Stats = %+v just before a minute after g1's last confirmation, want only g1 tracked", s)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if s := m.Stats(); s.Tracked != 0 {
			t.Fatalf("Stats = %+v two minutes after g1's last confirmation, want nothing tracked", s)
		}
		if err := closeWithin(m, time.Minute); err != nil {
			t.Fatalf("Close: %v", err)
		}
	})
}

func TestMarkerRetentionZeroForgetsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := apitest.NewHandler()
		m := newTestMarker(t, markerClient(t, h.Transport()), api.WithMarkDelay(0), api.WithMarkRetention(0))
		mustMark(t, m, "g1", "5")
		if err := flush(m); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		if s := m.Stats(); s.Tracked != 0 {
			t.Errorf("Stats = %+v, want nothing tracked", s)
		}
		if err := closeWithin(m, time.Minute); err != nil {
			t.Fatalf("Close: %v", err)
		}
	})
}

func TestMarkerRejectsInvalidInput(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := apitest.NewHandler()
		m := newTestMarker(t, markerClient(t, h.Transport()), api.WithMarkDelay(0))
		tests := []struct {
			conv, seq string
			want      error
		}{
			{"", "1", api.ErrInvalidConversationID},
			{"abc", "1", api.ErrInvalidConversationID},
			{"12:34", "1", api.ErrInvalidConversationID}, // must go through NormalizeConversationID
			{"g", "1", api.ErrInvalidConversationID},
			{"12345678901234567890", "1", api.ErrInvalidConversationID},
			{"g1", "", api.ErrInvalidSequenceID},
		}
		// The Marker orders sequence IDs, so it needs digits.
		for _, seq := range []string{"1a", "-1", "+1", " 1", "1.5", "１" /* fullwidth */, "1\n"} {
			tests = append(tests, struct {
				conv, seq string
				want      error
			}{"g1", seq, api.ErrInvalidSequenceID})
		}
		for _, tt := range tests {
			if err := m.Mark(tt.conv, tt.seq); !errors.Is(err, tt.want) {
				t.Errorf("Mark(%q, %q) = %v, want %v", tt.conv, tt.seq, err, tt.want)
			}
		}
		synctest.Wait()
		if s := m.Stats(); s.Tracked != 0 || s.Marked != 0 || h.Requests() != 0 {
			t.Errorf("Stats = %+v, %d requests after invalid input only, want nothing", s, h.Requests())
		}
		if err := closeWithin(m, time.Minute); err != nil {
			t.Fatalf("Close: %v", err)
		}
	})
}

func TestMarkerAfterClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := apitest.NewHandler()
		m := newTestMarker(t, markerClient(t, h.Transport()), api.WithMarkDelay(time.Hour))
		mustMark(t, m, "g8", "3")
		if err := closeWithin(m, time.Minute); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if got := readState(h, "g8"); got != "3" {
			t.Errorf("Close did not send the pending mark: read up to %q", got)
		}
		if err := m.Mark("g8", "4"); !errors.Is(err, api.ErrMarkerClosed) {
			t.Errorf("Mark after Close = %v, want api.ErrMarkerClosed", err)
		}
		if err := flush(m); !errors.Is(err, api.ErrMarkerClosed) {
			t.Errorf("Flush after Close = %v, want api.ErrMarkerClosed", err)
		}
		if err := closeWithin(m, time.Minute); !errors.Is(err, api.ErrMarkerClosed) {
			t.Errorf("second Close = %v, want api.ErrMarkerClosed", err)
		}
		if n := h.Requests(); n != 1 {
			t.Errorf("%d requests, want 1", n)
		}
		if s := m.Stats(); s.Marked != 1 || s.Confirmed != 1 {
			t.Errorf("Stats after Close = %+v, want 1 marked and confirmed", s)
		}
	})
}

func TestNewMarkerRejectsValuesThatCannotWork(t *testing.T) {
	c := markerClient(t, okTransport{})
	tests := []struct {
		name   string
		client *api.Client
		opts   []api.MarkerOption
		want   string
	}{
		{"nil client", nil, nil, "nil *Client"},
		{"nil option", c, []api.MarkerOption{api.WithMarkDelay(0), nil}, "option 2 is nil"},
		{"negative delay", c, []api.MarkerOption{api.WithMarkDelay(-time.Second)}, "WithMarkDelay: -1s is negative"},
		{"concurrency 0", c, []api.MarkerOption{api.WithMarkConcurrency(0)}, "WithMarkConcurrency: 0 is below 1"},
		{"negative retention", c, []api.MarkerOption{api.WithMarkRetention(-time.Minute)}, "WithMarkRetention: -1m0s is negative"},
	}
	for _, tt := range tests {
		m, err := api.NewMarker(tt.client, tt.opts...)
		if err == nil || m != nil {
			t.Errorf("%s: api.NewMarker = %v, %v; want an error", tt.name, m, err)
			continue
		}
		if want := "NewMarker: " + tt.want; !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: %q, want it to start with %q", tt.name, err, want)
		}
	}
}

// TestMarkerJoinsFailuresOnOneBoundedLine fails a thousand marks: Flush's error gives each as a
// *MarkError to range over, the handler gets the same values, and the text stays one short line.
func TestMarkerJoinsFailuresOnOneBoundedLine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 1000
		h := apitest.NewHandler()
		var failures failureLog
		m := newTestMarker(t, markerClient(t, h.Transport()), api.WithMarkDelay(time.Hour), api.WithMarkErrorHandler(failures.handler))
		h.FailNext(n, http.StatusForbidden)
		for i := range n {
			mustMark(t, m, "g"+strconv.Itoa(i), "7")
		}
		err := flush(m)
		var one *api.MarkError
		if !errors.As(err, &one) {
			t.Fatalf("Flush = %v, want *MarkError", err)
		}
		joined, ok := err.(interface{ Unwrap() []error })
		if !ok {
			t.Fatalf("Flush's error %T has no Unwrap() []error", err)
		}
		synctest.Wait() // the handler is called after Flush's wait ends
		handled := map[error]bool{}
		for _, f := range failures.all() {
			handled[f.err] = true
		}
		seen := map[string]bool{}
		for _, e := range joined.Unwrap() {
			var me *api.MarkError
			var apiErr *api.APIError
			if !errors.As(e, &me) || me.SequenceID != "7" || !errors.As(me, &apiErr) || apiErr.StatusCode != http.StatusForbidden {
				t.Fatalf("joined error %v, want a *MarkError up to 7 for the 403", e)
			}
			if !handled[e] {
				t.Errorf("%v was not given to the handler", e)
			}
			seen[me.ConversationID] = true
		}
		// The first 100 are kept (each may hold X's answer); the handler sees every one.
		if len(seen) != 100 || len(handled) != n {
			t.Errorf("%d failures joined, %d handled, want 100 and %d", len(seen), len(handled), n)
		}
		text := err.Error()
		if len(text) > 2048 || strings.Contains(text, "\n") || !strings.HasSuffix(text, "… and 996 more marks not confirmed") {
			t.Errorf("Flush's text (%d bytes) = %q, want one line of at most 2 KB ending with the count of the rest", len(text), text)
		}
		if err := closeWithin(m, time.Minute); err != nil {
			t.Fatalf("Close: %v", err)
		}
		checkBalance(t, m)
	})
}

// TestMarkerLosesNothingUnderStress marks from many goroutines against an X that fails some answers
// for good and others for a while, and checks that every conversation's highest accepted mark was
// applied or reported as failed, and that the totals add up.
func TestMarkerLosesNothingUnderStress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const goroutines, marksEach, conversations = 16, 300, 50
		h := apitest.NewHandler(apitest.WithLatency(time.Millisecond))
		watch := &overlapWatch{next: h.Transport()}
		var rng sync.Mutex
		flaky := transportFunc(func(r *http.Request) (*http.Response, error) {
			rng.Lock()
			roll := rand.N(100)
			rng.Unlock()
			switch {
			case roll < 3:
				h.FailNext(1, http.StatusBadRequest) // X refuses: reported
			case roll < 13:
				h.FailNext(1, http.StatusInternalServerError) // retried by the Marker
			case roll < 18:
				h.DropNext(1)
			}
			return watch.RoundTrip(r)
		})
		var failures failureLog
		m := newTestMarker(t, markerClient(t, flaky),
			api.WithMarkDelay(0), api.WithMarkConcurrency(8), api.WithMarkErrorHandler(failures.handler))

		var mu sync.Mutex
		var counters [conversations]int
		accepted := map[string]string{} // the highest mark Mark accepted, per conversation
		var wg sync.WaitGroup
		for range goroutines {
			wg.Go(func() {
				for range marksEach {
					i := rand.N(conversations)
					conv := "g" + strconv.Itoa(i)
					mu.Lock()
					counters[i]++
					// Increasing per conversation, crossing 9→10 and 99→100; marks of one
					// conversation race each other and the sends in flight.
					seq := strconv.Itoa(counters[i])
					mu.Unlock()
					if err := m.Mark(conv, seq); err != nil {
						t.Errorf("Mark: %v", err)
						return
					}
					mu.Lock()
					if higherSeq(seq, accepted[conv]) {
						accepted[conv] = seq
					}
					mu.Unlock()
					_ = m.Stats() // safe from any goroutine at any rate
					time.Sleep(time.Duration(rand.N(20_000)) * time.Microsecond)
				}
			})
		}
		wg.Wait()
		closeErr := closeWithin(m, time.Hour)
		synctest.Wait()

		failed := map[string]bool{}
		for _, f := range failures.all() {
			failed[f.conv+":"+f.seq] = true
		}
		for conv, seq := range accepted {
			applied := readState(h, conv)
			if applied != seq && !failed[conv+":"+seq] {
				t.Errorf("%s: highest accepted mark %s was neither applied (X has %q) nor reported", conv, seq, applied)
			}
			if higherSeq(applied, seq) {
				t.Errorf("%s: X applied %s, above the highest mark %s", conv, applied, seq)
			}
		}
		if (closeErr != nil) != (len(failed) > 0) {
			t.Errorf("Close = %v with %d failures reported to the handler", closeErr, len(failed))
		}
		all, perConv := watch.most()
		if perConv != 1 || all > 8 {
			t.Errorf("%d requests at once, %d for one conversation: want at most 8 and 1", all, perConv)
		}
		// More requests than the fake's window allows (900 per 15 minutes), and no 429: pacing.
		if s := m.Stats(); s.RateLimited != 0 {
			t.Errorf("%d 429s, want none", s.RateLimited)
		}
		s := m.Stats()
		if s.Marked != goroutines*marksEach || s.Requests != uint64(h.Requests()) || s.Failed != uint64(len(failures.all())) {
			t.Errorf("Stats = %+v: want %d marked, %d requests, %d failed", s, goroutines*marksEach, h.Requests(), len(failures.all()))
		}
		checkBalance(t, m)
		t.Logf("Stats %+v", s)
	})
}
