package spec_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/xchat-go/markread/spec"
)

// The embedded document must be the file on disk, byte for byte: a stale or partial embed would let the
// fake server validate against a spec the client was not generated from.
func TestOpenAPIIsTheFileOnDisk(t *testing.T) {
	onDisk, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(spec.OpenAPI(), onDisk) {
		t.Fatal("spec.OpenAPI() differs from spec/openapi.yaml")
	}
}

// A caller that scribbles on its copy must not change what the next caller reads.
func TestOpenAPIReturnsACopy(t *testing.T) {
	first := spec.OpenAPI()
	first[0] ^= 0xff
	if bytes.Equal(first, spec.OpenAPI()) {
		t.Fatal("spec.OpenAPI() shares its backing array between calls")
	}
}
