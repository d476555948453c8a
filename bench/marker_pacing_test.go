package bench

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/xchat-go/markread/api"
	"github.com/xchat-go/markread/api/apitest"
)

// A pacing workload is a bot whose marks would need three times the requests X's window allows. X
// allows limit requests per window. Each of conversations conversations gets a burst of burst messages
// every window/burstsPerWindow, the conversations staggered evenly, so that the Marker, sending one
// request per burst, would need conversations*burstsPerWindow = 3*limit requests per window. The bot
// reads for rounds bursts per conversation, and stops in the middle of a window.
type pacingWorkload struct {
	name            string
	limit           int
	window          time.Duration
	conversations   int
	burstsPerWindow int
	rounds          int
	burst           int
}

var pacingWorkloads = []pacingWorkload{
	// Fewer conversations than the window's requests: what is pending stays below the requests left
	// until the window is spent.
	{name: "60 conversations", limit: 100, window: 15 * time.Minute, conversations: 60, burstsPerWindow: 5, rounds: 13, burst: 10},
	// More conversations than the window's requests: after a reset, more wait than can be sent.
	{name: "150 conversations", limit: 100, window: 15 * time.Minute, conversations: 150, burstsPerWindow: 2, rounds: 5, burst: 10},
}

func (w pacingWorkload) duration() time.Duration {
	return time.Duration(w.rounds) * w.window / time.Duration(w.burstsPerWindow)
}

type pacingResult struct {
	marks, requests, rateLimited int
	rateLimitedAfterFirstAnswer  int
	lastConfirmed, afterLastMark time.Duration // since the start, and since the bot's last mark
	medianWait                   time.Duration // from a conversation's last mark to its confirmation
}

// runPacingWorkload replays the workload on synctest's clock against apitest's fake X, in process, and
// checks that every conversation ends read up to its last mark.
func runPacingWorkload(t *testing.T, w pacingWorkload, pacing bool) pacingResult {
	var r pacingResult
	synctest.Test(t, func(t *testing.T) {
		h := apitest.NewHandler(apitest.WithRateLimit(w.limit, w.window))
		var mu sync.Mutex
		answered := false
		watch := func(req *http.Request) (*http.Response, error) {
			resp, err := h.Transport().RoundTrip(req)
			mu.Lock()
			defer mu.Unlock()
			if err == nil && resp.StatusCode == http.StatusTooManyRequests && answered {
				r.rateLimitedAfterFirstAnswer++
			}
			answered = answered || err == nil
			return resp, err
		}
		c, err := api.NewClient(api.WithBaseURL("http://127.0.0.1"), api.WithToken(apitest.DefaultToken),
			api.WithHTTPClient(&http.Client{Transport: roundTripFunc(watch)}))
		if err != nil {
			t.Fatal(err)
		}
		m, err := api.NewMarker(c, api.WithMarkPacing(pacing))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		stagger := w.window / time.Duration(w.burstsPerWindow*w.conversations)
		seqs := make([]int, w.conversations)
		lastMarked := map[string]time.Time{}
		for range w.rounds {
			for i := range seqs {
				for range w.burst {
					seqs[i]++
					r.marks++
					if err := m.Mark(pacingConversation(i), strconv.Itoa(seqs[i])); err != nil {
						t.Fatal(err)
					}
				}
				lastMarked[pacingConversation(i)] = time.Now()
				time.Sleep(stagger)
			}
		}
		lastMark := time.Now()
		// No Flush: it would skip the delay and change the timing. Three windows are more than enough.
		time.Sleep(3 * w.window)
		synctest.Wait()

		final := map[string]string{}
		for i, seq := range seqs {
			final[pacingConversation(i)] = strconv.Itoa(seq)
		}
		var last time.Time
		var waits []time.Duration
		for _, mk := range h.Marks() {
			if mk.SequenceID == final[mk.ConversationID] {
				last = later(last, mk.Time)
				waits = append(waits, mk.Time.Sub(lastMarked[mk.ConversationID]))
			}
		}
		slices.Sort(waits)
		if len(waits) > 0 {
			r.medianWait = waits[len(waits)/2]
		}
		for conv, seq := range final {
			if got, _ := h.ReadState(apitest.DefaultToken, conv); got != seq {
				t.Errorf("%s, pacing %v: %s read up to %q, want its last mark %s", w.name, pacing, conv, got, seq)
			}
		}
		s := m.Stats()
		r.requests, r.rateLimited = int(s.Requests), int(s.RateLimited)
		r.lastConfirmed, r.afterLastMark = last.Sub(start), last.Sub(lastMark)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			t.Fatalf("Close: %v", err)
		}
	})
	return r
}

func pacingConversation(i int) string { return "g" + strconv.Itoa(2_000_000+i) }

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestMarkerPacing replays each pacing workload with pacing and without, checks that with pacing no
// answer after the first is a 429 and every final mark is confirmed, and prints the table that
// BENCHMARKS.md quotes (go test -run TestMarkerPacing -v ./bench/, part of make bench).
func TestMarkerPacing(t *testing.T) {
	for _, w := range pacingWorkloads {
		paced := runPacingWorkload(t, w, true)
		unpaced := runPacingWorkload(t, w, false)
		if paced.rateLimitedAfterFirstAnswer != 0 {
			t.Errorf("%s with pacing: %d answers after the first were 429s, want none", w.name, paced.rateLimitedAfterFirstAnswer)
		}
		if unpaced.rateLimited == 0 {
			t.Errorf("%s without pacing: no 429, so the workload is not over X's limit", w.name)
		}
		t.Logf("%s: %d marks in %v; X allows %d requests per %v, one request per burst would need %d\n"+
			"| Marker | requests | 429 answers | last mark confirmed at | that is, after the bot's last mark | median wait of a conversation's last mark |\n"+
			"|---|---:|---:|---:|---:|---:|\n%s\n%s",
			w.name, paced.marks, w.duration(), w.limit, w.window, w.conversations*w.burstsPerWindow,
			pacingRow("paced (default)", paced), pacingRow("WithMarkPacing(false)", unpaced))
	}
}

func pacingRow(name string, r pacingResult) string {
	return fmt.Sprintf("| %s | %d | %d | %v | %v | %v |", name, r.requests, r.rateLimited,
		r.lastConfirmed.Round(time.Second), r.afterLastMark.Round(time.Second), r.medianWait.Round(time.Second))
}
