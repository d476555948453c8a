package api_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/xchat-go/markread/api"
	"github.com/xchat-go/markread/api/apitest"
)

// sharedStore stands in for a database row and its lock, shared by a fleet of machines: a real one
// keeps the token in the database (a secret manager, …) and locks with, say, an advisory lock that
// the database releases when its holder's session ends.
type sharedStore struct {
	mu    sync.Mutex    // guards tok, as the database would
	tok   *oauth2.Token // the row
	rowMu chan struct{} // the lock: one holder at a time
}

func newSharedStore() *sharedStore { return &sharedStore{rowMu: make(chan struct{}, 1)} }

func (s *sharedStore) Load(ctx context.Context) (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok == nil {
		return nil, fmt.Errorf("no token in the shared store: %w", api.ErrLoginRequired)
	}
	tok := *s.tok
	return &tok, nil
}

func (s *sharedStore) Save(ctx context.Context, tok *oauth2.Token) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	saved := *tok
	s.tok = &saved
	return nil
}

func (s *sharedStore) Lock(ctx context.Context) (func() error, error) {
	select {
	case s.rowMu <- struct{}{}:
		return func() error { <-s.rowMu; return nil }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// A fleet shares one user's token through its own TokenStore, with the same guarantee as the token
// file: however many machines ask as the token expires, one refreshes it and the others use the
// token it saved.
func ExampleTokenStore() {
	x := apitest.NewServer(apitest.WithOAuthClient("fleet-app", "", "http://localhost:8080/callback"))
	defer x.Close()
	store := newSharedStore()
	tok, err := x.IssueToken("fleet-app")
	if err != nil {
		fmt.Println(err)
		return
	}
	tok.Expiry = time.Now() // expiring now
	_ = store.Save(context.Background(), tok)

	conf := &oauth2.Config{ClientID: "fleet-app", Endpoint: oauth2.Endpoint{TokenURL: x.URL + apitest.TokenPath}}
	var machines []oauth2.TokenSource
	for range 3 {
		ts, err := api.NewStoreTokenSource(context.Background(), conf, store)
		if err != nil {
			fmt.Println(err)
			return
		}
		machines = append(machines, ts)
	}
	tokens := make(chan string, 3*10)
	var wg sync.WaitGroup
	for _, ts := range machines {
		for range 10 {
			wg.Go(func() {
				tok, err := ts.Token()
				if errors.Is(err, api.ErrLoginRequired) {
					fmt.Println("a person must log in again:", err)
					return
				}
				if err != nil {
					fmt.Println(err)
					return
				}
				tokens <- tok.AccessToken
			})
		}
	}
	wg.Wait()
	close(tokens)
	distinct := map[string]bool{}
	for access := range tokens {
		distinct[access] = true
	}
	stored, _ := store.Load(context.Background())
	fmt.Println("refresh requests:", x.RefreshRequests())
	fmt.Println("every caller got the stored token:", len(distinct) == 1 && distinct[stored.AccessToken])
	// Output:
	// refresh requests: 1
	// every caller got the stored token: true
}
