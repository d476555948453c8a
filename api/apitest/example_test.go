package apitest_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/xchat-go/markread/api"
	"github.com/xchat-go/markread/api/apitest"
)

// Mark a conversation read through the real client against the fake, then look at the fake's state.
func Example() {
	srv := apitest.NewServer()
	defer srv.Close()

	client, err := api.NewClient(api.WithBaseURL(srv.URL), api.WithToken(apitest.DefaultToken))
	if err != nil {
		log.Fatal(err)
	}
	res, err := client.MarkConversationRead(context.Background(), "1587411342381740032-783214", "1940387460021112833")
	if err != nil {
		log.Fatal(err)
	}
	seq, _ := srv.ReadState(apitest.DefaultToken, "1587411342381740032-783214")
	fmt.Println("success:", res.Success, "attempts:", res.Attempts)
	fmt.Println("read up to:", seq)
	// Output:
	// success: true attempts: 1
	// read up to: 1940387460021112833
}

// Test a client's retries: the first two answers are 503s, applied nothing, and the third succeeds.
func ExampleHandler_FailNext() {
	srv := apitest.NewServer()
	defer srv.Close()
	srv.FailNext(2, http.StatusServiceUnavailable)

	client, err := api.NewClient(api.WithBaseURL(srv.URL), api.WithToken(apitest.DefaultToken),
		api.WithBackoff(time.Millisecond, 5*time.Millisecond))
	if err != nil {
		log.Fatal(err)
	}
	res, err := client.MarkConversationRead(context.Background(), "g1940387460021112832", "7")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("attempts:", res.Attempts, "requests:", srv.Requests(), "marks:", len(srv.Marks()))
	// Output:
	// attempts: 3 requests: 3 marks: 1
}
