// Command specdiff reports what X's definition of markChatConversationRead changes against the project's
// spec/openapi.yaml, beyond the deliberate simplifications listed in spec/simplifications.yaml, and with
// -old, X's own change between two of its versions. `make spec-diff NEW=<file> [OLD=<file>]` runs it.
//
// Usage:
//
//	specdiff [-repo DIR] [-old X-DEFINITION] X-DEFINITION
//
// X-DEFINITION is X's whole definition as X publishes it (JSON or YAML); the operation is found by its
// operationId, whatever its path. The exit status answers "is the fragment still X's definition?": 0 when
// nothing differs beyond the simplifications, 1 when anything does (info-level changes included: the
// fragment no longer follows X), and 2 when it could not compare.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/xchat-go/markread/tools/specdiff"
)

func main() {
	repo := flag.String("repo", "..", "the markread repository's root")
	old := flag.String("old", "", "an earlier version of X's definition, to report X's own change too")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: specdiff [-repo DIR] [-old X-DEFINITION] X-DEFINITION")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	root, err := filepath.Abs(*repo)
	if err != nil {
		fail(err)
	}
	report, err := specdiff.Run(specdiff.Options{
		SpecPath:            filepath.Join(root, "spec", "openapi.yaml"),
		SimplificationsPath: filepath.Join(root, "spec", "simplifications.yaml"),
		NewPath:             flag.Arg(0),
		OldPath:             *old,
		Name:                func(path string) string { return displayName(root, path) },
	})
	if err != nil {
		fail(err)
	}
	if err := report.Print(os.Stdout); err != nil {
		fail(err)
	}
	if len(report.Changes) > 0 {
		os.Exit(1)
	}
}

// displayName is path relative to the repository when it lies inside it, else as given.
func displayName(root, path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	if rel, err := filepath.Rel(root, abs); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return path
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "specdiff:", err)
	os.Exit(2)
}
