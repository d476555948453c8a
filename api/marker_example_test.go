package api_test

import (
	"context"
	"fmt"
	"log"
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
	marker := api.NewMarker(client,
		api.WithMarkDelay(time.Second), // a burst coalesces for up to a second
		api.WithMarkErrorHandler(func(conversationID, seq string, err error) {
			log.Printf("marking %s read up to %s: %v", conversationID, seq, err)
		}))

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
