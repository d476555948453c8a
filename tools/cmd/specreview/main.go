// Command specreview prints the review report of a change to spec/openapi.yaml, for `make generate` and
// `make spec-check`:
//
//   - spec: what changed between the spec at a git revision (default HEAD) and the working tree's,
//     each change classified breaking, warning or info by oasdiff;
//   - goapi: the incompatible changes to the exported Go API of gen and api between that revision and
//     the working tree (with -regenerate, a copy of the working tree with gen/ regenerated), by apidiff.
//
// Usage:
//
//	specreview [-repo DIR] [-base REV] [-regenerate] [-fail] spec|goapi...
//
// It exits 0 after reporting, 1 with -fail when a change is breaking (in the spec, or to the Go API), and
// 2 when it could not report.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/xchat-go/markread/tools/internal/goapi"
	"github.com/xchat-go/markread/tools/internal/oas"
)

// specFile is the spec's path in the repository.
const specFile = "spec/openapi.yaml"

// goPackages are the packages whose exported API the report follows: the generated one, and the client
// built on it.
var goPackages = []string{"gen", "api"}

func main() {
	repo := flag.String("repo", "..", "the markread repository's root")
	base := flag.String("base", "HEAD", "the git revision to compare the working tree with")
	regenerate := flag.Bool("regenerate", false, "goapi: compare a copy of the working tree with gen/ regenerated, leaving gen/ as it is")
	failOnBreaking := flag.Bool("fail", false, "exit 1 when a change is breaking")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: specreview [-repo DIR] [-base REV] [-regenerate] [-fail] spec|goapi...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	if strings.HasPrefix(*base, "-") {
		fail(fmt.Errorf("-base %q: a revision does not begin with '-' (git would read it as an option)", *base))
	}
	root, err := filepath.Abs(*repo)
	if err != nil {
		fail(err)
	}
	breaking := false
	for _, section := range flag.Args() {
		var broke bool
		switch section {
		case "spec":
			broke, err = reviewSpec(os.Stdout, root, *base)
		case "goapi":
			broke, err = reviewGoAPI(os.Stdout, root, *base, *regenerate)
		default:
			err = fmt.Errorf("unknown section %q; want spec or goapi", section)
		}
		if err != nil {
			fail(err)
		}
		breaking = breaking || broke
	}
	if *failOnBreaking && breaking {
		fmt.Fprintf(os.Stderr, "specreview: breaking changes against %s (see above)\n", *base)
		os.Exit(1)
	}
}

// reviewSpec prints the spec's changes from base to the working tree and reports whether one is breaking.
func reviewSpec(w io.Writer, root, base string) (bool, error) {
	cmd := exec.Command("git", "-C", root, "show", base+":"+specFile)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	baseData, err := cmd.Output()
	if err != nil {
		return false, fmt.Errorf("git show %s:%s: %v: %s", base, specFile, err, strings.TrimSpace(stderr.String()))
	}
	workData, err := oas.ReadFile(filepath.Join(root, specFile), specFile)
	if err != nil {
		return false, err
	}
	baseDoc, err := oas.Load(baseData, base+":"+specFile)
	if err != nil {
		return false, err
	}
	workDoc, err := oas.Load(workData, specFile)
	if err != nil {
		return false, err
	}
	changes, err := oas.Compare(baseDoc, workDoc)
	if err != nil {
		return false, err
	}
	fmt.Fprintf(w, "Spec review: %s at %s (X %s) → working tree (X %s), by oasdiff %s\n",
		specFile, base, baseDoc.Version(), workDoc.Version(), oas.OasdiffVersion())
	return oas.HasBreaking(changes), oas.Print(w, changes)
}

// reviewGoAPI prints the incompatible changes to gen's and api's exported API from base to the working
// tree and reports whether there is one.
func reviewGoAPI(w io.Writer, root, base string, regenerate bool) (broke bool, err error) {
	oldRoot, err := goapi.Snapshot(root, base)
	if err != nil {
		return false, err
	}
	defer func() { err = errors.Join(err, os.RemoveAll(oldRoot)) }()
	newRoot, what := root, "working tree"
	if regenerate {
		if newRoot, err = goapi.WorkingCopy(root); err != nil {
			return false, err
		}
		defer func() { err = errors.Join(err, os.RemoveAll(newRoot)) }()
		if err := goapi.Regenerate(newRoot); err != nil {
			return false, err
		}
		what = "working tree with gen/ regenerated"
	}
	reports, err := goapi.Compare(oldRoot, newRoot, goPackages)
	if err != nil {
		return false, err
	}
	fmt.Fprintf(w, "Go API review: incompatible changes to the exported API of %s, %s → %s, by apidiff\n",
		strings.Join(goPackages, " and "), base, what)
	for _, r := range reports {
		broke = broke || r.Broken()
	}
	return broke, goapi.Print(w, reports)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "specreview:", err)
	os.Exit(2)
}
