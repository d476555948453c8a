// Package e2e replays a spec change the way a maintainer meets it, in a temporary copy of the repository.
package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/xchat-go/markread/tools/internal/goapi"
)

// repo copies the repository's working tree into a temporary git repository whose HEAD is that copy, so
// that the reports compare with the tree as it is now.
func repo(t *testing.T) string {
	t.Helper()
	dir, err := goapi.WorkingCopy("../..")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	git := []string{"-c", "user.name=replay", "-c", "user.email=replay@example.invalid", "-c", "commit.gpgsign=false"}
	for _, args := range [][]string{{"init", "-q"}, {"add", "-A"}, {"commit", "-q", "-m", "before the spec change"}} {
		if out, err := exec.Command("git", append(append([]string{"-C", dir}, git...), args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return dir
}

// command runs name in dir and returns its combined output and exit code.
func command(t *testing.T, dir, name string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "MAKEFLAGS=", "GOFLAGS=-buildvcs=false")
	out, err := cmd.CombinedOutput()
	code := 0
	if exit, ok := err.(*exec.ExitError); ok {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return string(out), code
}

func mustContain(t *testing.T, what, out string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("%s does not say %q:\n%s", what, want, out)
		}
	}
}

// The "done when": a breaking spec edit (the body member renamed) is named breaking by the report,
// spec-check exits 1, generating still succeeds, the compiler finds every use of the old member, and once
// those compile again the tests that mirror the spec fail, naming the spec's member.
func TestBreakingSpecEditIsCaughtAtEveryStep(t *testing.T) {
	if testing.Short() {
		t.Skip("copies and builds the whole repository")
	}
	for _, tool := range []string{"git", "make", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip(tool, "is not installed")
		}
	}
	dir := repo(t)
	specPath := filepath.Join(dir, "spec", "openapi.yaml")
	spec, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	renamed := strings.ReplaceAll(string(spec), "seen_until_sequence_id", "seen_until_message_id")
	if renamed == string(spec) {
		t.Fatal("spec/openapi.yaml has no seen_until_sequence_id to rename")
	}
	if err := os.WriteFile(specPath, []byte(renamed), 0o644); err != nil {
		t.Fatal(err)
	}

	// The report before anything is written: breaking, by name, and what it does to the Go API.
	// make itself exits 2 whenever a recipe fails; the report's own status 1 (breaking, as opposed to 2,
	// could not report) shows in make's "Error 1".
	out, code := command(t, dir, "make", "spec-check")
	if code == 0 || !strings.Contains(out, "spec-check] Error 1") {
		t.Errorf("make spec-check exited %d, want a failure with the report's exit status 1:\n%s", code, out)
	}
	mustContain(t, "make spec-check", out,
		"breaking  POST /2/chat/conversations/{id}/read: added the new required request property `seen_until_message_id`",
		"removed the request property `seen_until_sequence_id`",
		"gen: MarkChatConversationReadRequest.SeenUntilSequenceID: removed",
		"api: does not compile:",
	)
	if out, code := command(t, dir, "make", "check-generated"); code == 0 {
		t.Errorf("make check-generated passed with the spec edited and gen/ not regenerated:\n%s", out)
	}

	// Regenerating is allowed: the same report, exit 0, and gen/ is then what the generator makes.
	out, code = command(t, dir, "make", "generate")
	if code != 0 {
		t.Fatalf("make generate exited %d:\n%s", code, out)
	}
	mustContain(t, "make generate", out, "breaking  POST", "seen_until_message_id", "gen: MarkChatConversationReadRequest.SeenUntilSequenceID: removed")
	if out, code := command(t, dir, "make", "check-generated"); code != 0 {
		t.Errorf("make check-generated failed right after make generate on an uncommitted spec edit:\n%s", out)
	}

	// The compiler finds the old member wherever code uses gen's type, apitest's decoding included.
	out, code = command(t, dir, "go", "vet", "./...")
	if code == 0 {
		t.Fatalf("go vet ./... passed with the body member renamed")
	}
	for _, file := range []string{"api/client.go", "api/apitest/server.go"} {
		mustContain(t, "go vet", out, file)
	}
	// Do what the compiler asks, as a rename in an editor would: every SeenUntilSequenceID outside gen/.
	fixed := 0
	err = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasPrefix(path, filepath.Join(dir, "gen")+"/") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil || !strings.Contains(string(data), "SeenUntilSequenceID") {
			return err
		}
		fixed++
		return os.WriteFile(path, []byte(strings.ReplaceAll(string(data), "SeenUntilSequenceID", "SeenUntilMessageID")), 0o644)
	})
	if err != nil || fixed == 0 {
		t.Fatalf("renaming the field: %v (%d files)", err, fixed)
	}
	if out, code := command(t, dir, "go", "vet", "./..."); code != 0 {
		t.Fatalf("go vet ./... still fails after the rename:\n%s", out)
	}

	// Now it compiles, and the tests that mirror the spec fail, naming the spec's member.
	out, code = command(t, dir, "go", "test", "-count=1", "-run", "Spec", "./api/...", "./cmd/...")
	if code == 0 {
		t.Fatalf("the spec-mirroring tests pass with the hand-written member still the old one:\n%s", out)
	}
	mustContain(t, "the spec-mirroring tests", out,
		"--- FAIL: TestEmptySequenceIDProblemNamesTheSpecsMember",
		`name "seen_until_message_id", as spec/openapi.yaml: components.schemas.MarkChatConversationReadRequest.required does`,
	)
	if failed := regexp.MustCompile(`--- FAIL: (\S+)`).FindAllStringSubmatch(out, -1); len(failed) > 0 {
		var names []string
		for _, f := range failed {
			names = append(names, f[1])
		}
		t.Logf("spec-mirroring tests that failed after the rename: %s", strings.Join(names, ", "))
	}
}
