// Package markread is a Go client for X Chat's Mark Conversation as Read endpoint.
//
// The client lives in package api; the code generated from spec/openapi.yaml lives in package gen.
package markread

//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen -config gen/config.yaml spec/openapi.yaml
