// Command quickstart marks an X Chat conversation read.
//
//	X_ACCESS_TOKEN=... go run ./examples/quickstart <conversation-id> <seen-until-sequence-id>
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/xchat-go/markread/api"
)

func main() {
	if len(os.Args) != 3 {
		log.Fatal("usage: quickstart <conversation-id> <seen-until-sequence-id>")
	}
	opts := []api.Option{api.WithToken(os.Getenv("X_ACCESS_TOKEN"))}
	if base := os.Getenv("X_API_BASE_URL"); base != "" { // e.g. a local `markread serve`
		opts = append(opts, api.WithBaseURL(base))
	}
	client, err := api.NewClient(opts...)
	if err != nil {
		log.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := client.MarkConversationRead(ctx, os.Args[1], os.Args[2])
	var apiErr *api.APIError
	switch {
	case errors.Is(err, api.ErrRateLimited) && errors.As(err, &apiErr):
		log.Fatalf("rate limited: try again after %s", apiErr.RetryAt().Format(time.RFC3339))
	case err != nil:
		log.Fatal(err)
	}
	fmt.Printf("marked read; %d calls left in this window\n", res.RateLimit.Remaining)
}
