// Package api marks X Chat conversations read: POST /2/chat/conversations/{id}/read on X API v2.
//
// The request is built by the code generated from spec/openapi.yaml (package gen); this package checks
// the IDs before anything is sent, attaches the credentials, retries what is safe to retry, and turns
// every answer into a *MarkReadResult or a typed error:
//
//	client, err := api.NewClient(api.WithToken(os.Getenv("X_ACCESS_TOKEN")))
//	if err != nil {
//		log.Fatal(err)
//	}
//	if _, err := client.MarkConversationRead(ctx, "g1940387460021112832", "1940387512345678901"); err != nil {
//		log.Fatal(err)
//	}
//
// A bot that runs for weeks passes NewFileTokenSource (the token `markread login` stores) to
// WithTokenSource, and coalesces its marks with a Marker. Errors carry no package prefix; branch on them
// with errors.Is and errors.As. SECURITY.md says what the package promises against a hostile server.
package api
