package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const walkThrough = "../../docs/regenerating.md"

var replayDirective = regexp.MustCompile(`^<!-- replay: (.*) -->$`)

// The walk-through is what its commands print: in a scratch copy of the repository, each
// `<!-- replay: … -->` comment is run as is (the setup and the edits the prose describes), and each
// console block's `$ command` is run and must print the block's other lines exactly. `make docs-check`
// runs it; WALKTHROUGH_UPDATE=1 writes what the commands print into the file instead.
func TestWalkThrough(t *testing.T) {
	if testing.Short() {
		t.Skip("copies the repository and runs make in it")
	}
	for _, tool := range []string{"git", "make", "go", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip(tool, "is not installed")
		}
	}
	data, err := os.ReadFile(walkThrough)
	if err != nil {
		t.Fatal(err)
	}
	dir := repo(t)
	run := func(command string) string {
		cmd := exec.Command("bash", "-c", command)
		cmd.Dir = dir
		cmd.Env = append(freshEnv(), "GOFLAGS=-buildvcs=false", "LC_ALL=C")
		out, _ := cmd.CombinedOutput() // a failing command's output, make's "Error 1" included, is what is compared
		text := strings.ReplaceAll(string(out), dir+string(filepath.Separator), "")
		if text != "" && !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		return text
	}
	lines := strings.SplitAfter(string(data), "\n")
	var updated strings.Builder
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		updated.WriteString(line)
		if m := replayDirective.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			cmd := exec.Command("bash", "-c", m[1])
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s:%d: %s: %v\n%s", walkThrough, i+1, m[1], err, out)
			}
			continue
		}
		if line != "```console\n" || i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "$ ") {
			continue
		}
		i++
		updated.WriteString(lines[i])
		start, command := i+1, strings.TrimSpace(strings.TrimPrefix(lines[i], "$ "))
		var want strings.Builder
		for i++; i < len(lines) && lines[i] != "```\n"; i++ {
			want.WriteString(lines[i])
		}
		got := run(command)
		if got != want.String() && os.Getenv("WALKTHROUGH_UPDATE") == "" {
			t.Errorf("%s:%d: `%s` prints\n%s\nbut the walk-through shows\n%s(run make docs-check WALKTHROUGH_UPDATE=1 to take what it prints, then read the prose again)",
				walkThrough, start, command, got, want.String())
		}
		updated.WriteString(got)
		if i < len(lines) {
			updated.WriteString(lines[i])
		}
	}
	if os.Getenv("WALKTHROUGH_UPDATE") != "" {
		if err := os.WriteFile(walkThrough, []byte(updated.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// freshEnv is the environment without what a make that runs this test leaves in it, so that the make
// the walk-through runs prints what it prints at a prompt (no "make[1]: Entering directory").
func freshEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES", "WALKTHROUGH_UPDATE":
			continue
		}
		env = append(env, kv)
	}
	return env
}
