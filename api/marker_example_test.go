package api_test

import (
	"context"
	"expvar"
	"fmt"
	"log"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/xchat-go/markread/api"
	"github.com/xchat-go/markread/api/apitest"
)

// A bot marks every message it reads; the Marker sends one request per conversation and burst.
func ExampleMarker() {
	x := apitest.NewServer() // stands in for https://api.x.com
	defer x.Close()
	client, err := api.NewClient(api.WithBaseURL(x.URL), api.WithToken(apitest.DefaultToken))
	if err != nil {
		fmt.Println(err)
		return
	}
	marker, err := api.NewMarker(client,
		api.WithMarkDelay(time.Second), // a burst coalesces for up to a second
		api.WithMarkErrorHandler(func(conversationID, seq string, err error) {
			log.Printf("marking %s read up to %s: %v", conversationID, seq, err)
		}))
	if err != nil {
		fmt.Println(err)
		return
	}

	// A burst of 100 messages read in one conversation.
	for seq := 1; seq <= 100; seq++ {
		if err := marker.Mark("g1940387460021112832", strconv.Itoa(seq)); err != nil {
			fmt.Println(err)
		}
	}
	// Events carry 1:1 conversation IDs as "a:b": normalize them first.
	if id, err := api.NormalizeConversationID("1587411342381740032:783214"); err == nil {
		_ = marker.Mark(id, "77")
	}

	// At shutdown: send what is pending, then stop.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := marker.Close(ctx); err != nil {
		fmt.Println(err)
	}
	seq, _ := x.ReadState(apitest.DefaultToken, "g1940387460021112832")
	fmt.Println("requests:", x.Requests(), "g1940387460021112832 read up to", seq)
	// Output:
	// requests: 2 g1940387460021112832 read up to 100
}

// A bot that runs for weeks puts the Marker's Stats on its dashboard, here through expvar (served at
// /debug/vars by net/http's default mux), and logs holds, retries and failures through the Client's
// logger.
func ExampleMarker_Stats() {
	x := apitest.NewServer()
	defer x.Close()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	client, err := api.NewClient(api.WithBaseURL(x.URL), api.WithToken(apitest.DefaultToken), api.WithLogger(logger))
	if err != nil {
		fmt.Println(err)
		return
	}
	marker, err := api.NewMarker(client)
	if err != nil {
		fmt.Println(err)
		return
	}
	expvar.Publish("markread_marker", expvar.Func(func() any { return marker.Stats() }))

	for seq := 1; seq <= 10; seq++ {
		_ = marker.Mark("g1940387460021112832", strconv.Itoa(seq))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := marker.Flush(ctx); err != nil {
		fmt.Println(err)
	}
	s := marker.Stats()
	fmt.Printf("marked %d, coalesced %d, requests %d, confirmed %d, tracked %d, pending %d\n",
		s.Marked, s.Coalesced, s.Requests, s.Confirmed, s.Tracked, s.Pending)
	if err := marker.Close(ctx); err != nil {
		fmt.Println(err)
	}
	// Output:
	// marked 10, coalesced 9, requests 1, confirmed 1, tracked 1, pending 0
}

// A bot's own test runs its Marker against apitest's fake X and checks what X was told. Inside a
// testing/synctest bubble, hand the client apitest's in-process transport instead (see
// apitest.Handler.Transport): holds and delays then take no real time.
func ExampleMarker_testingABot() {
	x := apitest.NewServer(apitest.WithRateLimit(50, 15*time.Minute))
	defer x.Close()
	client, err := api.NewClient(api.WithBaseURL(x.URL), api.WithToken(apitest.DefaultToken))
	if err != nil {
		fmt.Println(err)
		return
	}
	marker, err := api.NewMarker(client, api.WithMarkDelay(0))
	if err != nil {
		fmt.Println(err)
		return
	}

	x.FailNext(1, 503) // one answer lost, as happens
	readMessages(marker, "g1", 40)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := marker.Close(ctx); err != nil {
		fmt.Println("Close:", err)
	}
	seq, _ := x.ReadState(apitest.DefaultToken, "g1")
	fmt.Println("g1 read up to", seq, "failed:", marker.Stats().Failed)
	// Output:
	// g1 read up to 40 failed: 0
}

// readMessages stands for the bot under test: it marks each message it reads.
func readMessages(marker *api.Marker, conversationID string, n int) {
	for seq := 1; seq <= n; seq++ {
		if err := marker.Mark(conversationID, strconv.Itoa(seq)); err != nil {
			log.Print(err)
		}
	}
}
