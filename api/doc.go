// Package api marks X Chat conversations read (POST /2/chat/conversations/{id}/read) around the client
// generated from spec/openapi.yaml: it checks the IDs, attaches credentials, retries what is safe, and
// returns a *MarkReadResult or a typed error. A long-running bot adds NewFileTokenSource and a Marker.
//
//	client, err := api.NewClient(api.WithToken(os.Getenv("X_ACCESS_TOKEN")))
//	if err != nil {
//		log.Fatal(err)
//	}
//	_, err = client.MarkConversationRead(ctx, "g1940387460021112832", "1940387512345678901")
package api
