// Package api marks X Chat conversations read: POST /2/chat/conversations/{id}/read on X API v2.
//
// It validates the conversation ID against X's pattern before anything is sent, attaches the user's
// credentials (an OAuth 2.0 user access token with the scopes users.read, dm.write and tweet.read, or
// OAuth 1.0a user context), retries what is safe to retry within X's
// rate limits, and turns every answer into a *MarkReadResult or a typed error.
//
// The shortest correct use:
//
//	client, err := api.NewClient(api.WithToken(os.Getenv("X_ACCESS_TOKEN")))
//	if err != nil {
//		log.Fatal(err)
//	}
//	if _, err := client.MarkConversationRead(ctx, "g1940387460021112832", "1940387512345678901"); err != nil {
//		log.Fatal(err)
//	}
//
// For a bot that runs for weeks, NewFileTokenSource keeps a refreshing token (the one `markread login`
// stores) safe across X's rotation of refresh tokens, restarts and concurrent processes; pass it, or any
// golang.org/x/oauth2 TokenSource, with WithTokenSource. WithOAuth1 signs with OAuth 1.0a instead. X's refusals
// come back as *APIError (errors.As), a 429 also as errors.Is(err, ErrRateLimited), and rejected input as
// errors.Is(err, ErrInvalidConversationID) or ErrInvalidSequenceID.
//
// The request is built by the code generated from spec/openapi.yaml (package gen); this package adds the
// checks, authentication, retries and typed outcomes around it.
package api
