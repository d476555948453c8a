package bench

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xchat-go/markread/api"
	"github.com/xchat-go/markread/api/apitest"
)

// The bot workload: 100 000 marks over 1 000 conversations, each conversation read in 4 bursts of 25
// messages. A round brings one burst to every conversation, in a scattered order, from 8 goroutines; the
// rounds are further apart than the Marker's delay, so that bursts of one conversation cannot merge and
// each costs the Marker a request of its own (25 marks per request, not 100).
const (
	workloadMarks         = 100_000
	workloadConversations = 1_000
	workloadRounds        = 4
	workloadBurst         = workloadMarks / workloadConversations / workloadRounds
	workloadWorkers       = 8
	workloadRoundGap      = 3 * api.DefaultMarkDelay / 2
)

func replayBotWorkload(mark func(conv, seq string) error) error {
	var next [workloadConversations]int64 // each conversation's bursts come from one goroutine at a time
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
					conv := "g" + strconv.Itoa(1_000_000+i)
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
		for b := range workloadConversations {
			bursts <- (b * 7919) % workloadConversations // scattered, each conversation once
		}
		close(bursts)
		wg.Wait()
	}
	if err := failed.Load(); err != nil {
		return *err
	}
	return nil
}

// newWorkloadServer is the fake X with a rate limit the workload cannot reach: the figures are about how
// many requests each way needs, not about waiting for a reset.
func newWorkloadServer(tb testing.TB) (*apitest.Server, *api.Client) {
	tb.Helper()
	srv := apitest.NewServer(apitest.WithRateLimit(1<<30, time.Hour))
	tb.Cleanup(srv.Close)
	c, err := api.NewClient(api.WithBaseURL(srv.URL), api.WithToken(apitest.DefaultToken))
	if err != nil {
		tb.Fatal(err)
	}
	return srv, c
}

// checkEveryConversationRead fails unless X holds every conversation read up to its last mark.
func checkEveryConversationRead(tb testing.TB, srv *apitest.Server) {
	tb.Helper()
	last := strconv.Itoa(workloadMarks / workloadConversations)
	for i := range workloadConversations {
		conv := "g" + strconv.Itoa(1_000_000+i)
		if seq, _ := srv.ReadState(apitest.DefaultToken, conv); seq != last {
			tb.Fatalf("%s is read up to %q, want its last mark %s", conv, seq, last)
		}
	}
}

// workloadWithMarker replays the workload through a Marker with its defaults and returns the requests sent.
func workloadWithMarker(tb testing.TB, srv *apitest.Server, c *api.Client) int {
	before := srv.Requests()
	m, err := api.NewMarker(c)
	if err != nil {
		tb.Fatal(err)
	}
	if err := replayBotWorkload(m.Mark); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := m.Close(ctx); err != nil {
		tb.Fatalf("Close: %v", err)
	}
	checkEveryConversationRead(tb, srv)
	return srv.Requests() - before
}

// workloadWithout replays the workload with one MarkConversationRead per mark and returns the requests sent.
func workloadWithout(tb testing.TB, srv *apitest.Server, c *api.Client) int {
	before := srv.Requests()
	if err := replayBotWorkload(func(conv, seq string) error {
		_, err := c.MarkConversationRead(context.Background(), conv, seq)
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	checkEveryConversationRead(tb, srv)
	return srv.Requests() - before
}

// TestMarkerWorkloadSendsFarFewerRequests replays the workload against the fake X both ways. Sending the
// 100 000 requests of the way without a Marker takes a while under -race, so -short counts them as
// the number of marks (one request per call that succeeds at once, as every call here does).
func TestMarkerWorkloadSendsFarFewerRequests(t *testing.T) {
	srv, c := newWorkloadServer(t)
	with := workloadWithMarker(t, srv, c)
	without := workloadMarks
	if !testing.Short() {
		srv, c = newWorkloadServer(t)
		without = workloadWithout(t, srv, c)
	}
	t.Logf("%d marks over %d conversations: %d requests without the Marker, %d with it (%.0fx fewer)",
		workloadMarks, workloadConversations, without, with, float64(without)/float64(with))
	if with*20 > without {
		t.Errorf("the Marker sent %d requests for %d without it: want at least 20x fewer", with, without)
	}
}

// BenchmarkMarkerWorkload reports the requests the bot workload costs with a Marker and without one.
func BenchmarkMarkerWorkload(b *testing.B) {
	for _, bench := range []struct {
		name string
		run  func(testing.TB, *apitest.Server, *api.Client) int
	}{{"with", workloadWithMarker}, {"without", workloadWithout}} {
		b.Run(bench.name, func(b *testing.B) {
			requests := 0
			for b.Loop() {
				srv, c := newWorkloadServer(b)
				requests += bench.run(b, srv, c)
			}
			b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
			b.ReportMetric(workloadMarks, "marks/op")
		})
	}
}
