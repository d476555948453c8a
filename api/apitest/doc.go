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
//  5. A missing, unknown or expired bearer token: 401 {"title":"Unauthorized","type":"about:blank",…}, as
//     X answers.
//  6. The token's rate limit (WithRateLimit): 429 once its window is used up.
//  7. What the spec forbids: 400 application/problem+json with type
//     https://api.x.com/2/problems/invalid-request and a "parameter" member naming the culprit ("id",
//     "seen_until_sequence_id"). A seen_until_sequence_id that is not ASCII digits (empty included) is
//     refused the same way: the spec types it as a plain string, but X's sequence IDs are unsigned
//     integers and X answers a malformed one so. A body over 64 KiB gets 413.
//  8. The mark is applied and the answer is 200 {"data":{"success":true}}, unless an after-apply fault
//     (FailNextAfterApply, DropNextAfterApply) loses the answer.
//
// Every response, faults included, carries x-rate-limit-limit, x-rate-limit-remaining and
// x-rate-limit-reset (Unix seconds) for the token the request presented.
//
// # Read state
//
// The server keeps, per token and conversation ID, the highest sequence ID applied (ReadState), and the
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
// X limits this endpoint per user, so the fake keeps one fixed window per token: the first request opens
// it, WithRateLimit sets its size and length (default DefaultRateLimit per DefaultRateWindow), and every
// authenticated request uses it up, refused ones (400) included; 401 and 404 answers and injected faults
// do not. The advertised reset is rounded up to the whole second, so a client that waits for it never
// comes back early. A 429 answers with the problem object X API v2 sends,
// {"title":"Too Many Requests","type":"about:blank","status":429,"detail":"Too Many Requests"}; with
// WithLegacyRateLimitBody it sends the body X documents, {"errors":[{"code":88,"message":"Rate limit
// exceeded"}]}, instead (the project's spec does not describe that one).
//
// A Server and its Handler are safe for use by many goroutines.
package apitest
