package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xchat-go/markread/tools/internal/goapi"
)

// File names are data: make spec-diff compares a file whatever its name, or refuses it naming it, and
// never splits or runs it; the checkout's own path may hold spaces and parentheses.
func TestFileNamesAreData(t *testing.T) {
	for _, tool := range []string{"make", "go", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip(tool, "is not installed")
		}
	}
	copied, err := goapi.WorkingCopy("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "check out (1); $(x)")
	if err := os.Rename(copied, dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	makeIn := func(args ...string) (string, int) {
		cmd := exec.Command("make", append([]string{"--no-print-directory", "-C", dir}, args...)...)
		cmd.Env = freshEnv()
		out, err := cmd.CombinedOutput()
		if exit, ok := err.(*exec.ExitError); ok {
			return string(out), exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	if out, code := makeIn("check-generated"); code != 0 {
		t.Errorf("make check-generated in %q exited %d:\n%s", dir, code, out)
	}

	// From here on the spec is the tools' fixture, whatever spec/ follows today.
	testdata := filepath.Join(dir, "tools", "specdiff", "testdata")
	for from, to := range map[string]string{"fragment-2.167.yaml": "openapi.yaml", "simplifications.yaml": "simplifications.yaml"} {
		data, err := os.ReadFile(filepath.Join(testdata, from))
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, "spec", to), data, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	fixture, err := os.ReadFile(filepath.Join(testdata, "x-2.167.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"x (1).yaml", "x;touch canary;.yaml", "$(touch canary).yaml", "$$(touch canary).yaml",
		"`touch canary`.yaml", `it's "q".yaml`, "-old", "x\ty.yaml"}
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(dir, name), fixture, 0o644); err != nil {
			t.Fatal(err)
		}
		out, code := makeIn("spec-diff", "NEW="+name, "OLD="+name)
		if code != 0 || !strings.Contains(out, "in "+name+" (X 2.167) against spec/openapi.yaml") ||
			!strings.Contains(out, "no differences beyond the deliberate simplifications") {
			t.Errorf("make spec-diff NEW=%q exited %d:\n%s", name, code, out)
		}
	}
	out, code := makeIn("spec-diff", "NEW=missing;touch canary;.yaml")
	if code == 0 || !strings.Contains(out, "specdiff: stat missing;touch canary;.yaml: no such file") || !strings.Contains(out, "Error 2") {
		t.Errorf("a missing file: exit %d:\n%s", code, out)
	}
	// A difference, a moved tag only, is status 1: the fragment is no longer X's definition.
	if out, code := makeIn("spec-diff", "NEW=tools/specdiff/testdata/x-2.170.yaml"); code == 0 || !strings.Contains(out, "spec-diff] Error 1") || !strings.Contains(out, "API tag `Chat` added") {
		t.Errorf("a moved tag: exit %d, want make's Error 1 for specdiff's status 1:\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "canary")); !os.IsNotExist(err) {
		t.Errorf("a file name was run as a command: canary: %v", err)
	}
}
