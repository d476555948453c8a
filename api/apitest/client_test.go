package apitest_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/xchat-go/markread/api"
	"github.com/xchat-go/markread/api/apitest"
)

// These tests run the real api.Client against the fake: they prove the two agree on the wire, and that
// the fake's faults drive the client's retry paths the way X's failures would.

func newClient(t *testing.T, srv *apitest.Server, opts ...api.Option) *api.Client {
	t.Helper()
	base := []api.Option{
		api.WithBaseURL(srv.URL),
		api.WithToken(apitest.DefaultToken),
		api.WithBackoff(time.Millisecond, 5*time.Millisecond),
	}
	c, err := api.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClientRetriesADroppedConnection(t *testing.T) {
	srv := apitest.NewServer()
	defer srv.Close()
	srv.DropNext(1)

	res, err := newClient(t, srv).MarkConversationRead(context.Background(), "g5", "10")
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 2 || len(srv.Marks()) != 1 {
		t.Errorf("attempts %d, marks %d; want 2 and 1", res.Attempts, len(srv.Marks()))
	}
}

// A lost answer makes the client retry a mark X already applied; marking read is idempotent, so the
// state is what one call would have left.
func TestClientRetryAfterALostAnswerIsHarmless(t *testing.T) {
	srv := apitest.NewServer()
	defer srv.Close()
	srv.DropNextAfterApply(1)

	res, err := newClient(t, srv).MarkConversationRead(context.Background(), "g5", "10")
	if err != nil {
		t.Fatal(err)
	}
	marks := srv.Marks()
	if res.Attempts != 2 || len(marks) != 2 || !marks[0].Advanced || marks[1].Advanced {
		t.Errorf("attempts %d, marks %+v; want 2 attempts, the second mark a no-op", res.Attempts, marks)
	}
	if seq, _ := srv.ReadState(apitest.DefaultToken, "g5"); seq != "10" {
		t.Errorf("ReadState = %q, want 10", seq)
	}
}

func TestClientSeesTheRateLimitAndItsReset(t *testing.T) {
	for name, opts := range map[string][]apitest.Option{
		"problem body": {apitest.WithRateLimit(1, time.Hour)},
		"legacy body":  {apitest.WithRateLimit(1, time.Hour), apitest.WithLegacyRateLimitBody()},
	} {
		t.Run(name, func(t *testing.T) {
			srv := apitest.NewServer(opts...)
			defer srv.Close()
			client := newClient(t, srv, api.WithMaxRateLimitWait(0))
			if _, err := client.MarkConversationRead(context.Background(), "1", "1"); err != nil {
				t.Fatal(err)
			}
			_, err := client.MarkConversationRead(context.Background(), "1", "2")
			var apiErr *api.APIError
			if !errors.Is(err, api.ErrRateLimited) || !errors.As(err, &apiErr) {
				t.Fatalf("err = %v, want a rate-limit *APIError", err)
			}
			want := srv.RateLimit(apitest.DefaultToken).Reset
			if !apiErr.RetryAt().Equal(want) || apiErr.RateLimit.Remaining != 0 || len(apiErr.Problems) == 0 {
				t.Errorf("RetryAt %v, RateLimit %+v, Problems %v; want reset %v, remaining 0, a problem",
					apiErr.RetryAt(), apiErr.RateLimit, apiErr.Problems, want)
			}
			if seq, _ := srv.ReadState(apitest.DefaultToken, "1"); seq != "1" {
				t.Errorf("ReadState = %q, want 1: the refused mark must not apply", seq)
			}
		})
	}
}

func TestClientGetsUnauthorized(t *testing.T) {
	srv := apitest.NewServer(apitest.WithTokens("the-right-one"))
	defer srv.Close()

	_, err := newClient(t, srv).MarkConversationRead(context.Background(), "1", "1")
	var apiErr *api.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized || apiErr.Attempts != 1 {
		t.Fatalf("err = %v, want one 401 attempt", err)
	}
	if len(apiErr.Problems) != 1 || apiErr.Problems[0].Type != "about:blank" || apiErr.Problems[0].Title != "Unauthorized" {
		t.Errorf("Problems = %+v, want X's Unauthorized problem", apiErr.Problems)
	}
}

func TestClientSendsTheNormalizedForm(t *testing.T) {
	srv := apitest.NewServer()
	defer srv.Close()
	id, err := api.NormalizeConversationID("783214:1587411342381740032")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newClient(t, srv).MarkConversationRead(context.Background(), id, "3"); err != nil {
		t.Fatal(err)
	}
	if _, ok := srv.ReadState(apitest.DefaultToken, "783214-1587411342381740032"); !ok {
		t.Errorf("no mark under the a-b form; marks: %+v", srv.Marks())
	}
}

func TestClientTimesOutOnLatency(t *testing.T) {
	srv := apitest.NewServer(apitest.WithLatency(time.Hour))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := newClient(t, srv).MarkConversationRead(ctx, "1", "1")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the context's deadline", err)
	}
}
