package apitest_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/xchat-go/markread/api"
	"github.com/xchat-go/markread/api/apitest"
)

// The in-process transport runs the whole client inside a synctest bubble: a 429's reset is waited out on
// the fake clock, and a dropped connection is a transport error that the client retries.
func TestTransportInsideASynctestBubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := apitest.NewHandler(apitest.WithRateLimit(1, 5*time.Second))
		client, err := api.NewClient(api.WithBaseURL("http://127.0.0.1"), api.WithToken(apitest.DefaultToken),
			api.WithHTTPClient(&http.Client{Transport: h.Transport()}))
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if _, err := client.MarkConversationRead(ctx, "g1", "5"); err != nil {
			t.Fatal(err)
		}
		h.DropNext(1)
		start := time.Now()
		res, err := client.MarkConversationRead(ctx, "g1", "6")
		if err != nil {
			t.Fatal(err)
		}
		// One drop, one 429 waited out until the window's reset, then the mark.
		if res.Attempts != 3 || time.Since(start) < 4*time.Second {
			t.Errorf("attempts %d after %v; want 3, after waiting for the 5 s window", res.Attempts, time.Since(start))
		}
		if seq, _ := h.ReadState(apitest.DefaultToken, "g1"); seq != "6" {
			t.Errorf("read state %q, want 6", seq)
		}
	})
}

func TestTransportHonoursTheContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := apitest.NewHandler(apitest.WithLatency(time.Hour))
		client, err := api.NewClient(api.WithBaseURL("http://127.0.0.1"), api.WithToken(apitest.DefaultToken),
			api.WithHTTPClient(&http.Client{Transport: h.Transport()}))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err = client.MarkConversationRead(ctx, "g1", "5")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want context.DeadlineExceeded", err)
		}
		if _, ok := h.ReadState(apitest.DefaultToken, "g1"); ok {
			t.Error("the mark was applied although the client gave up first")
		}
	})
}
