// Package spec carries markread's hand-written OpenAPI fragment of X's "Mark Conversation as Read"
// endpoint (openapi.yaml beside this file) into the binary, so that tools such as the fake server in
// api/apitest validate against the very document the client is generated from, wherever they run.
//
// It imports nothing but embed on purpose: the api package's users must never pull in an OpenAPI library
// through it.
package spec

import _ "embed"

//go:embed openapi.yaml
var openAPI string

// OpenAPI returns the OpenAPI 3.0 document (YAML) that gen/ is generated from. Each call returns a fresh
// copy, so that no caller can change what another one reads.
func OpenAPI() []byte { return []byte(openAPI) }
