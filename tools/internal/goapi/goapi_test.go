package goapi

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// module writes a one-package module into a temporary directory: files maps paths to contents.
func module(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	files["go.mod"] = "module example.com/m\n\ngo 1.26\n"
	for name, text := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestCompare(t *testing.T) {
	old := module(t, map[string]string{
		"gen/gen.go": "package gen\n\ntype Request struct{ SeenUntilSequenceID string }\n",
		"api/api.go": "package api\n\nimport \"example.com/m/gen\"\n\nfunc Body(s string) gen.Request { return gen.Request{SeenUntilSequenceID: s} }\n",
		"old/old.go": "package old\n",
	})
	renamed := module(t, map[string]string{
		"gen/gen.go": "package gen\n\ntype Request struct{ SeenUntilMessageID string }\n\nfunc Extra() {}\n",
		"api/api.go": "package api\n\nimport \"example.com/m/gen\"\n\nfunc Body(s string) gen.Request { return gen.Request{SeenUntilSequenceID: s} }\n",
		"new/new.go": "package new\n",
	})
	reports, err := Compare(old, renamed, []string{"gen", "api", "old", "new"})
	if err != nil {
		t.Fatal(err)
	}
	byDir := map[string]PackageReport{}
	for _, r := range reports {
		byDir[r.Dir] = r
	}
	if gen := byDir["gen"]; len(gen.Incompatible) != 1 || gen.Incompatible[0] != "Request.SeenUntilSequenceID: removed" || gen.Compatible == 0 {
		t.Errorf("gen: %+v; want the removed field as the one incompatible change, and Extra as a compatible one", gen)
	}
	if api := byDir["api"]; len(api.NewErrors) == 0 || !strings.HasPrefix(api.NewErrors[0], "api/api.go:") ||
		!strings.Contains(api.NewErrors[0], "SeenUntilSequenceID") || !api.Broken() {
		t.Errorf("api: %+v; want the compile error, positioned relative to the module", api)
	}
	if byDir["old"].Missing != "new" || !byDir["old"].Broken() || byDir["new"].Missing != "old" || byDir["new"].Broken() {
		t.Errorf("old %+v, new %+v; want a removed and an added package", byDir["old"], byDir["new"])
	}

	var out strings.Builder
	if err := Print(&out, reports); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"gen: Request.SeenUntilSequenceID: removed", "api: does not compile:", "old: removed", "new: new package"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report does not say %q:\n%s", want, out.String())
		}
	}
}

func TestCompareSame(t *testing.T) {
	old := module(t, map[string]string{"gen/gen.go": "package gen\n\n// F is unchanged.\nfunc F(conversationID string) {}\n"})
	renamedArg := module(t, map[string]string{"gen/gen.go": "package gen\n\n// F is unchanged.\nfunc F(id string) {}\n"})
	reports, err := Compare(old, renamedArg, []string{"gen", "api"})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := Print(&out, reports); err != nil {
		t.Fatal(err)
	}
	if out.String() != "  none\n" {
		t.Errorf("a renamed argument: %q, want none", out.String())
	}
}
