package bench

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/xchat-go/markread/api"
	"github.com/xchat-go/markread/api/apitest"
)

// The bot workload: 100 000 marks over 1 000 conversations, each read in 4 bursts of 25 messages. A round
// brings one burst to every conversation, in a scattered order, from 8 goroutines; the rounds are further
// apart than the Marker's delay, so that a Marker that keeps up sends one request per burst (4 000), not
// one per conversation. Whether it keeps up depends on how fast X answers: with 4 workers and X answering
// in L, it sends 4/L requests a second, while the bot brings 1 000 bursts every 150 ms. TestMarkerWorkload
// replays it on synctest's clock, against the fake X in process with a latency per answer, so that the
// figures do not depend on the host's speed or load: they move by a few requests from run to run, as the
// bot's goroutines and the Marker's workers interleave differently within an instant.
const (
	workloadConversations = 1_000
	workloadRounds        = 4
	workloadBurst         = 25
	workloadMarks         = workloadConversations * workloadRounds * workloadBurst
	workloadWorkers       = 8
	workloadRoundGap      = 3 * api.DefaultMarkDelay / 2
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
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	if err := m.Close(ctx); err != nil {
		tb.Fatalf("Close: %v", err)
	}
	checkEveryConversationRead(tb, h, conversations)
	return h.Requests() - before
}

// TestMarkerWorkload replays the workload through a Marker for each of X's latencies, on synctest's
// clock, and prints the table BENCHMARKS.md quotes (go test -run TestMarkerWorkload -v ./bench/, part of
// make bench). Without a Marker every mark is one request (each call here succeeds at once), so that
// side is counted, not sent.
func TestMarkerWorkload(t *testing.T) {
	const mostPerBurst, leastPerConversation = workloadConversations * workloadRounds, workloadConversations
	table := []string{fmt.Sprintf("%d marks over %d conversations in %d bursts; without the Marker, %d requests",
		workloadMarks, workloadConversations, mostPerBurst, workloadMarks),
		"| X answers in | requests with the Marker | fewer than without | Close returns after the bot's last mark |"}
	previous := mostPerBurst
	for _, latency := range []time.Duration{0, time.Millisecond, 10 * time.Millisecond, 100 * time.Millisecond} {
		t.Run(latency.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// A rate limit the workload cannot reach: the figures are about coalescing, not pacing.
				h := apitest.NewHandler(apitest.WithRateLimit(1<<30, time.Hour), apitest.WithLatency(latency))
				c, err := api.NewClient(api.WithBaseURL("http://127.0.0.1"), api.WithToken(apitest.DefaultToken),
					api.WithHTTPClient(&http.Client{Transport: h.Transport()}))
				if err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				with := workloadWithMarker(t, h, c, workloadConversations)
				table = append(table, fmt.Sprintf("| %v | %d | %.1fx | %v |", latency, with,
					float64(workloadMarks)/float64(with), time.Since(start)-(workloadRounds-1)*workloadRoundGap))
				// Between one request per conversation and one per burst: bursts merge when they meet a
				// send waiting or in flight, which a slower X makes more likely, never less.
				if with < leastPerConversation || with > previous {
					t.Errorf("the Marker sent %d requests: want %d (one per conversation) to %d (one per burst, or what a faster X took)",
						with, leastPerConversation, previous)
				}
				previous = min(previous, with)
			})
		})
	}
	t.Log(strings.Join(table, "\n"))
}
