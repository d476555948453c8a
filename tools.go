//go:build tools

// Package markread pins the code generator in go.mod, so `go generate` runs the same version everywhere.
package markread

import _ "github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen"
