package bench

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/xchat-go/markread/api"
	"github.com/xchat-go/markread/api/apitest"
)

// The bot workload: marks over many conversations, each conversation read in 4 bursts of 25 messages.
// A round brings one burst to every conversation, in a scattered order, from 8 goroutines; the rounds
// are further apart than the Marker's delay, so that bursts of one conversation cannot merge and each
// costs the Marker a request of its own (25 marks per request, not 100). BenchmarkMarkerWorkload (make
// bench) replays it over 1 000 conversations, 100 000 marks, in real time against a loopback server;
// TestMarkerWorkloadSendsFarFewerRequests (make test) replays 100 conversations on synctest's clock.
const (
	workloadConversations = 1_000
	workloadRounds        = 4
	workloadBurst         = 25
	workloadMarks         = workloadConversations * workloadRounds * workloadBurst
	workloadWorkers       = 8
	workloadRoundGap      = 3 * api.DefaultMarkDelay / 2
	workloadShortFactor   = 10 // the test replays a tenth of the conversations
)

func replayBotWorkload(conversations int, mark func(conv, seq string) error) error {
	next := make([]int64, conversations) // each conversation's bursts come from one goroutine at a time
	var failed atomic.Pointer[error]
	for round := range workloadRounds {
		if round > 0 {
			time.Sleep(workloadRoundGap)
		}
		bursts := make(chan int)
		var wg sync.WaitGroup
		for range workloadWorkers {
			wg.Go(func() {
				for i := range bursts {
					conv := workloadConversation(i)
					for range workloadBurst {
						next[i]++
						if err := mark(conv, strconv.FormatInt(next[i], 10)); err != nil {
							failed.CompareAndSwap(nil, &err)
							break // keep draining bursts, so that the sender is never stuck
						}
					}
				}
			})
		}
		for b := range conversations {
			bursts <- (b * 7919) % conversations // scattered, each conversation once (7919 is prime)
		}
		close(bursts)
		wg.Wait()
	}
	if err := failed.Load(); err != nil {
		return *err
	}
	return nil
}

func workloadConversation(i int) string { return "g" + strconv.Itoa(1_000_000+i) }

// checkEveryConversationRead fails unless X holds every conversation read up to its last mark.
func checkEveryConversationRead(tb testing.TB, h *apitest.Handler, conversations int) {
	tb.Helper()
	last := strconv.Itoa(workloadRounds * workloadBurst)
	for i := range conversations {
		conv := workloadConversation(i)
		if seq, _ := h.ReadState(apitest.DefaultToken, conv); seq != last {
			tb.Fatalf("%s is read up to %q, want its last mark %s", conv, seq, last)
		}
	}
}

// workloadWithMarker replays the workload through a Marker with its defaults and returns the requests sent.
func workloadWithMarker(tb testing.TB, h *apitest.Handler, c *api.Client, conversations int) int {
	tb.Helper()
	before := h.Requests()
	m, err := api.NewMarker(c)
	if err != nil {
		tb.Fatal(err)
	}
	if err := replayBotWorkload(conversations, m.Mark); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := m.Close(ctx); err != nil {
		tb.Fatalf("Close: %v", err)
	}
	checkEveryConversationRead(tb, h, conversations)
	return h.Requests() - before
}

// workloadWithout replays the workload with one MarkConversationRead per mark and returns the requests sent.
func workloadWithout(tb testing.TB, h *apitest.Handler, c *api.Client, conversations int) int {
	tb.Helper()
	before := h.Requests()
	if err := replayBotWorkload(conversations, func(conv, seq string) error {
		_, err := c.MarkConversationRead(context.Background(), conv, seq)
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	checkEveryConversationRead(tb, h, conversations)
	return h.Requests() - before
}

// TestMarkerWorkloadSendsFarFewerRequests replays a tenth of the workload through a Marker on synctest's
// clock, against the fake X in process. Without a Marker every mark is one request (each call here
// succeeds at once), so that side is counted, not sent; BenchmarkMarkerWorkload sends both.
func TestMarkerWorkloadSendsFarFewerRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const conversations = workloadConversations / workloadShortFactor
		// A rate limit the workload cannot reach: the figures are about how many requests each way
		// needs, not about waiting for a reset.
		h := apitest.NewHandler(apitest.WithRateLimit(1<<30, time.Hour))
		c, err := api.NewClient(api.WithBaseURL("http://127.0.0.1"), api.WithToken(apitest.DefaultToken),
			api.WithHTTPClient(&http.Client{Transport: h.Transport()}))
		if err != nil {
			t.Fatal(err)
		}
		with := workloadWithMarker(t, h, c, conversations)
		without := workloadMarks / workloadShortFactor
		t.Logf("%d marks over %d conversations: %d requests without the Marker, %d with it (%.1fx fewer)",
			without, conversations, without, with, float64(without)/float64(with))
		// One request per burst at most; bursts that meet a send in flight merge into fewer.
		if max := conversations * workloadRounds; with > max || with*20 > without {
			t.Errorf("the Marker sent %d requests for %d marks: want at most one per burst (%d), 20x fewer", with, without, max)
		}
	})
}

// BenchmarkMarkerWorkload reports the requests the full bot workload costs with a Marker and without
// one, in real time against a loopback server.
func BenchmarkMarkerWorkload(b *testing.B) {
	for _, bench := range []struct {
		name string
		run  func(testing.TB, *apitest.Handler, *api.Client, int) int
	}{{"with", workloadWithMarker}, {"without", workloadWithout}} {
		b.Run(bench.name, func(b *testing.B) {
			requests := 0
			for b.Loop() {
				srv := apitest.NewServer(apitest.WithRateLimit(1<<30, time.Hour))
				c, err := api.NewClient(api.WithBaseURL(srv.URL), api.WithToken(apitest.DefaultToken))
				if err != nil {
					b.Fatal(err)
				}
				requests += bench.run(b, srv.Handler, c, workloadConversations)
				srv.Close()
			}
			b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
			b.ReportMetric(workloadMarks, "marks/op")
		})
	}
}
