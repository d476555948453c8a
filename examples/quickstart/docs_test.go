//go:build docs

package main

import (
	"bytes"
	"os"
	"testing"
)

// TestREADMEShowsThisProgram keeps the README's quick start identical to this compiled, tested program.
// It is part of the docs check (make docs-check), not of make test.
func TestREADMEShowsThisProgram(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	program, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, append(append([]byte("```go\n"), program...), "```\n"...)) {
		t.Error("README.md's quick start is not examples/quickstart/main.go as written; paste the file into the README")
	}
}
