package api_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/xchat-go/markread/api"
	"github.com/xchat-go/markread/api/apitest"
)

// Mark a conversation read; here against the fake X server from package apitest.
func ExampleClient_MarkConversationRead() {
	x := apitest.NewServer() // stands in for https://api.x.com
	defer x.Close()

	client, err := api.NewClient(api.WithBaseURL(x.URL), api.WithToken(apitest.DefaultToken))
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := client.MarkConversationRead(context.Background(), "g1940387460021112832", "1940387512345678901")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("success:", res.Success, "attempts:", res.Attempts)
	seq, _ := x.ReadState(apitest.DefaultToken, "g1940387460021112832")
	fmt.Println("X has it read up to", seq)
	// Output:
	// success: true attempts: 1
	// X has it read up to 1940387512345678901
}

// A 429 comes back as an *APIError that matches ErrRateLimited and says when to try again.
func ExampleAPIError_rateLimited() {
	x := apitest.NewServer(apitest.WithRateLimit(1, 15*time.Minute))
	defer x.Close()
	client, _ := api.NewClient(api.WithBaseURL(x.URL), api.WithToken(apitest.DefaultToken),
		api.WithMaxRateLimitWait(time.Second)) // the reset is 15 minutes away: do not wait for it

	ctx := context.Background()
	_, _ = client.MarkConversationRead(ctx, "g1", "10")
	_, err := client.MarkConversationRead(ctx, "g1", "11")

	var apiErr *api.APIError
	if errors.Is(err, api.ErrRateLimited) && errors.As(err, &apiErr) {
		wait := time.Until(apiErr.RetryAt()).Round(time.Minute)
		fmt.Println("rate limited; retry in about", wait, "after", apiErr.Attempts, "attempt")
	}
	// Output:
	// rate limited; retry in about 15m0s after 1 attempt
}

// X Chat events carry 1:1 conversation IDs as "a:b"; the endpoint takes "a-b".
func ExampleNormalizeConversationID() {
	id, err := api.NormalizeConversationID("1587411342381740032:783214")
	fmt.Println(id, err)
	// Output:
	// 1587411342381740032-783214 <nil>
}

// Invalid IDs are refused before anything is sent, with an error that says why.
func ExampleValidateConversationID() {
	err := api.ValidateConversationID("../1")
	fmt.Println(errors.Is(err, api.ErrInvalidConversationID))
	fmt.Println(err)
	// Output:
	// true
	// invalid conversation ID "../1": want a user ID, "<user ID>-<user ID>" or "g<group ID>", each 1 to 19 ASCII digits
}

// Sequence IDs are unsigned decimal integers; anything else is refused before anything is sent.
func ExampleValidateSequenceID() {
	fmt.Println(api.ValidateSequenceID("1940387512345678901"))
	err := api.ValidateSequenceID("g1940387460021112832") // a conversation ID in the wrong place
	fmt.Println(errors.Is(err, api.ErrInvalidSequenceID))
	fmt.Println(err)
	// Output:
	// <nil>
	// true
	// invalid seen-until sequence ID "g1940387460021112832": want the sequence ID of the last message read, ASCII digits only
}

// Authenticate with OAuth 1.0a user context: every request, retries included, is signed afresh. Here the
// fake X checks the signatures; the credentials are X's documented example ones.
func ExampleWithOAuth1() {
	const (
		consumerKey, consumerSecret = "xvz1evFS4wEEPTGEFPHBog", "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw"
		accessToken, tokenSecret    = "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb", "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE"
	)
	x := apitest.NewServer(apitest.WithOAuth1(consumerKey, consumerSecret, accessToken, tokenSecret))
	defer x.Close()
	x.FailNext(1, http.StatusServiceUnavailable) // the retry is signed afresh: new nonce, new timestamp

	client, err := api.NewClient(api.WithBaseURL(x.URL), api.WithOAuth1(consumerKey, consumerSecret, accessToken, tokenSecret),
		api.WithBackoff(time.Millisecond, time.Millisecond))
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := client.MarkConversationRead(context.Background(), "g1940387460021112832", "1940387512345678901")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("success:", res.Success, "attempts:", res.Attempts)
	seq, _ := x.ReadState(accessToken, "g1940387460021112832")
	fmt.Println("X has it read up to", seq)
	// Output:
	// success: true attempts: 2
	// X has it read up to 1940387512345678901
}
