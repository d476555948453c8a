//go:build docs

package api

import (
	"os"
	"strings"
	"testing"
)

// The docs check (make docs-check) holds docs to what the code does; make test does not run it, so
// editing prose never breaks the build.
func init() {
	checkDocs = func(t *testing.T, file, text string) {
		doc, err := os.ReadFile("../" + file)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(doc), text) {
			t.Errorf("%s does not show what the code does; paste this into it:\n%s", file, text)
		}
	}
}
