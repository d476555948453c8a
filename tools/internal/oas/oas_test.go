package oas

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// doc is a small definition whose 200 answer's schema is schema, with components appended.
func doc(schema, components string) []byte {
	return []byte(`openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /2/things/{id}/read:
    post:
      operationId: op
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema: ` + schema + `
components:
  schemas:
    Plain: {type: object, properties: {a: {type: string}}}
` + components)
}

func mustFailNaming(t *testing.T, err error, name string, wants ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one naming %s", name)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, name+": ") || strings.Contains(msg, "\n") {
		t.Errorf("error %q: want one line starting with %q", msg, name+": ")
	}
	for _, want := range wants {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
}

func TestReadFileRefusesWhatItCannotBound(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: no disk is used, and a reader that read it whole would take 2 GiB of memory.
	if err := errors.Join(f.Truncate(2<<30), f.Close()); err != nil {
		t.Fatal(err)
	}
	_, err = ReadFile(big, "big.yaml")
	mustFailNaming(t, err, "big.yaml", "larger than 8 MiB")

	if _, err := os.Stat("/dev/zero"); err == nil {
		_, err := ReadFile("/dev/zero", "/dev/zero")
		mustFailNaming(t, err, "/dev/zero", "not a regular file")
	}
	_, err = ReadFile(dir, "a directory")
	mustFailNaming(t, err, "a directory", "not a regular file")

	small := filepath.Join(dir, "x (1).yaml")
	if err := os.WriteFile(small, doc("{type: string}", ""), 0o600); err != nil {
		t.Fatal(err)
	}
	if data, err := ReadFile(small, "x (1).yaml"); err != nil || len(data) == 0 {
		t.Errorf("a small file: %d bytes, %v", len(data), err)
	}
}

// A billion laughs: ten levels of ten aliases each expand to 10^10 nodes from a few hundred bytes.
func TestAliasBombIsRefused(t *testing.T) {
	var b strings.Builder
	b.WriteString("x-l0: &l0 [a, a, a, a, a, a, a, a, a, a]\n")
	for i := 1; i <= 10; i++ {
		fmt.Fprintf(&b, "x-l%d: &l%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 10), ", "))
	}
	_, err := Load(append(doc("{type: string}", ""), b.String()...), "bomb.yaml")
	mustFailNaming(t, err, "bomb.yaml", "aliases expanded")

	// A few aliases are fine: YAML allows them, and they expand to little.
	ok := append(doc("{type: string}", ""), "x-a: &a {b: c}\nx-b: *a\n"...)
	if _, err := Load(ok, "aliases.yaml"); err != nil {
		t.Errorf("a document with two small aliases: %v", err)
	}
}

func TestTooLargeDataIsRefused(t *testing.T) {
	data := append(doc("{type: string}", ""), "x-pad: '"+strings.Repeat("a", MaxSize)+"'\n"...)
	_, err := Load(data, "padded.yaml")
	mustFailNaming(t, err, "padded.yaml", "larger than 8 MiB")
}

// oasdiff's checks recurse through a recursive schema until the stack overflows, a crash no recover
// catches: such a schema must be refused before oasdiff sees it.
func TestRecursiveSchemaIsRefused(t *testing.T) {
	base, err := Load(doc("{$ref: '#/components/schemas/Plain'}", ""), "base.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for name, components := range map[string]string{
		"items":      "    Loop: {type: array, items: {$ref: '#/components/schemas/Loop'}}\n",
		"property":   "    Loop: {type: object, properties: {next: {$ref: '#/components/schemas/Loop'}}}\n",
		"oneOf pair": "    Loop: {oneOf: [{$ref: '#/components/schemas/Loop2'}]}\n    Loop2: {type: array, items: {$ref: '#/components/schemas/Loop'}}\n",
	} {
		t.Run(name, func(t *testing.T) {
			loop, err := Load(doc("{$ref: '#/components/schemas/Loop'}", components), "loop.yaml")
			if err != nil {
				t.Fatal(err)
			}
			_, err = Compare(base, loop)
			mustFailNaming(t, err, "loop.yaml", "#/components/schemas/Loop", "contains itself")
		})
	}
	// A schema used twice is no cycle.
	twice, err := Load(doc("{type: object, properties: {a: {$ref: '#/components/schemas/Plain'}, b: {$ref: '#/components/schemas/Plain'}}}", ""), "twice.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Compare(base, twice); err != nil {
		t.Errorf("a schema used twice: %v", err)
	}
}

func TestReferencesOutsideTheFileAreNeverRead(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = w.Write(doc("{type: string}", ""))
	}))
	defer srv.Close()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "other.yaml"), doc("{type: string}", ""), 0o600); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(dir, "sub", "x.yaml")
	for _, ref := range []string{srv.URL + "/x.yaml#/components/schemas/Plain", "../other.yaml#/components/schemas/Plain", "other.yaml#/components/schemas/Plain"} {
		_, err := Load(doc("{$ref: '"+ref+"'}", ""), name)
		mustFailNaming(t, err, name, "disallowed external reference")
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the server was asked %d times", n)
	}
}

func TestPanicBecomesOneLineNamingTheDocument(t *testing.T) {
	err := func() (err error) {
		defer recoverAs(&err, "x.yaml")
		panic(errors.New("runtime error:\n  index out of range"))
	}()
	mustFailNaming(t, err, "x.yaml", "index out of range")
}
