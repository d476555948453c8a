// Package apitest is an in-process stand-in for X's "Mark Conversation as Read" endpoint, for tests and
// demos: a real HTTP server on a loopback port that answers the way X does, so that a client's whole code
// path (request building, authentication, error decoding, retries, rate-limit handling) runs without a
// token or a network.
//
//	srv := apitest.NewServer()
//	defer srv.Close()
//	client, err := api.NewClient(api.WithBaseURL(srv.URL), api.WithToken(apitest.DefaultToken))
//	…
//	seq, ok := srv.ReadState(apitest.DefaultToken, "1587411342381740032-783214")
//
// # What it checks
//
// Every request is validated against the project's own spec/openapi.yaml (through package spec), with
// kin-openapi, so that the fake cannot drift from the contract the client is generated from. Requests are
// answered in this order, and the first rule that applies wins:
//
//  0. Requests to the OAuth 2.0 endpoints (AuthorizePath, TokenPath) are answered by the fake
//     authorization server (see OAuth below); none of the rules that follow apply to them.
//  1. Every request to the API is counted (Requests), whatever comes next.
//  2. Added latency (WithLatency, SetLatency), cut short when the client goes away.
//  3. Injected faults (FailNext, DropNext), before anything else is looked at.
//  4. An unknown path: 404. A known path with another method: 405 with an Allow header.
//  5. A missing, unknown or expired bearer token, or an OAuth 1.0a signature that does not check out:
//     401 {"title":"Unauthorized","type":"about:blank",…}, as X answers.
//  6. The rate limit of the token's user (WithRateLimit): 429 once its window is used up.
//  7. What the spec forbids: 400 application/problem+json with type
//     https://api.x.com/2/problems/invalid-request and a "parameter" member naming the culprit ("id",
//     "seen_until_sequence_id"). A seen_until_sequence_id that is not ASCII digits (empty included) is
//     refused the same way: the spec types it as a plain string, but X's sequence IDs are unsigned
//     integers and X answers a malformed one so. A body over 64 KiB gets 413.
//  8. The mark is applied and the answer is 200 {"data":{"success":true}}, unless an after-apply fault
//     (FailNextAfterApply, DropNextAfterApply) loses the answer.
//
// Every response, faults included, carries x-rate-limit-limit, x-rate-limit-remaining and
// x-rate-limit-reset (Unix seconds) for the user of the token the request presented.
//
// # Read state
//
// The server keeps, per user and conversation ID, the highest sequence ID applied (ReadState), and the
// list of accepted marks (Marks). As on X, a lower sequence ID never moves a mark backwards. Sequence IDs
// compare as unsigned integers of any length ("9" < "10", "007" == "7"). Conversation IDs are keys as
// sent: the fake does not build the canonical
// ID of a 1:1 conversation from a recipient's user ID the way X does, so "783214" and
// "1587411342381740032-783214" are two conversations here.
//
// # Faults
//
// FailNext and DropNext act before a mark is applied: a failed or dropped request changed nothing, which
// is what a client that retries can rely on. FailNextAfterApply and DropNextAfterApply apply the mark
// first and then lose the answer, as a proxy or a cut connection would, so that a client's idempotency can
// be tested: its retry must not do harm.
//
// # Rate limits
//
// X limits this endpoint per user, and so does the fake, with one fixed window per user (see Users): the
// first request opens it, WithRateLimit sets its size and length (default DefaultRateLimit per DefaultRateWindow), and every
// authenticated request uses it up, refused ones (400) included; 401 and 404 answers and injected faults
// do not. The advertised reset is rounded up to the whole second, so a client that waits for it never
// comes back early. A 429 answers with the problem object X API v2 sends,
// {"title":"Too Many Requests","type":"about:blank","status":429,"detail":"Too Many Requests"}; with
// WithLegacyRateLimitBody it sends the body X documents, {"errors":[{"code":88,"message":"Rate limit
// exceeded"}]}, instead (the project's spec does not describe that one).
//
// # Users
//
// Read state and rate-limit windows belong to users, not to tokens, as on X. Every WithTokens token
// (DefaultToken included) is a user of its own, named as the token; every token issued through OAuth 2.0
// belongs to OAuthUser; every WithOAuth1 access token is a user of its own, named as the token. So a
// refreshed token keeps its user's read state and rate-limit window, and ReadState and RateLimit accept
// any token of the user: an expired one, a refreshed one, or the OAuth 1.0a access token. Each Mark
// records the token presented and the user.
//
// # OAuth
//
// The fake also plays X's authorization server, on the same port, so that a login, a token source's
// refreshes and OAuth 1.0a signing can be tested end to end. Register an app with WithOAuthClient (an
// empty secret makes a public client, a secret a confidential one) and point an oauth2.Config at
//
//	oauth2.Endpoint{AuthURL: srv.URL + apitest.AuthorizePath, TokenURL: srv.URL + apitest.TokenPath}
//
// The authorization page (GET AuthorizePath) stands for X's consent screen with a user who approves at
// once: it answers 302 to the redirect URI with a code and the state as sent. It requires
// response_type=code, a registered client_id, a redirect_uri registered for it (matched exactly, as X
// does), a scope, a state, and a PKCE challenge with code_challenge_method=S256 ("plain" is refused). An
// unknown client or redirect URI gets a 400 page and never a redirect; a scope that is not made of X's
// OAuth 2.0 scope names (those X's docs list, such as offline.access), or is longer than 1 KiB, is
// redirected back with error=invalid_scope and the state, any other mistake with error=invalid_request.
// A scope name asked for twice is granted once. A code is single use, bound to its client, redirect URI
// and challenge, and expires 30 s after it was issued, on the server's clock.
//
// The token endpoint (POST TokenPath, a form) serves the authorization_code grant (code, redirect_uri,
// code_verifier) and the refresh_token grant, and answers as X does: {"token_type":"bearer",
// "expires_in":…,"access_token":…,"scope":…,"refresh_token":…}, with a refresh token only when the
// scopes include offline.access. A confidential client must authenticate with HTTP Basic; without it (a
// secret in the form included) the answer is 401 unauthorized_client, as on X. Refresh tokens rotate and
// are single use: an answer carries a new one and the one presented is gone, so reusing it, or one
// revoked by RevokeRefreshTokens, is 400 invalid_grant, as is a reused or expired code, a wrong verifier
// or redirect URI. Access tokens last DefaultAccessTokenLifetime (WithAccessTokenLifetime) on the
// server's clock (WithClock); an old access token stays valid until then, and an expired one gets the
// API's 401. IssueToken hands out a token without the login, for tests of token sources, and
// RefreshRequests counts the refresh_token grants asked for.
//
// Requests to the OAuth endpoints are not counted by Requests, and neither latency nor injected faults
// apply to them. DefaultToken stays accepted unless WithTokens says otherwise.
//
// WithOAuth1 adds a user whose requests are signed with OAuth 1.0a (HMAC-SHA1, RFC 5849) in the
// Authorization header. The fake checks them with an implementation of its own: a known consumer key
// and access token, HMAC-SHA1, oauth_version 1.0 if present, a timestamp within 5 minutes of the
// server's clock, a nonce never used before with that token, and the signature over the method, the
// URL, the query, the OAuth parameters and a form body (a JSON body is not signed). Any failure gets
// the same 401 as a bad bearer token.
//
// A Server and its Handler are safe for use by many goroutines.
package apitest
