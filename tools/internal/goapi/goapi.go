// Package goapi reports the incompatible changes to the exported Go API of some of the repository's
// packages between two states of its source, with golang.org/x/exp/apidiff.
package goapi

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/exp/apidiff"
	"golang.org/x/tools/go/packages"
)

// Snapshot writes the repository's files at git revision rev into a new temporary directory, which the
// caller removes.
func Snapshot(repo, rev string) (string, error) {
	cmd := exec.Command("git", "-C", repo, "archive", "--format=tar", rev)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git archive %s: %v: %s", rev, err, strings.TrimSpace(stderr.String()))
	}
	dir, err := os.MkdirTemp("", "markread-"+sanitize(rev)+"-")
	if err != nil {
		return "", err
	}
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return dir, nil
		}
		if err != nil {
			return "", errors.Join(err, os.RemoveAll(dir))
		}
		if hdr.Typeflag != tar.TypeReg || !filepath.IsLocal(hdr.Name) {
			continue // directories are made as files need them; git archive has no links here
		}
		if err := writeFile(filepath.Join(dir, hdr.Name), tr, os.FileMode(hdr.Mode)); err != nil {
			return "", errors.Join(err, os.RemoveAll(dir))
		}
	}
}

// WorkingCopy copies the working tree's files (tracked, and untracked ones git does not ignore) into a
// new temporary directory, which the caller removes.
func WorkingCopy(repo string) (string, error) {
	out, err := exec.Command("git", "-C", repo, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		return "", fmt.Errorf("git ls-files: %w", err)
	}
	dir, err := os.MkdirTemp("", "markread-working-")
	if err != nil {
		return "", err
	}
	for name := range strings.SplitSeq(strings.TrimRight(string(out), "\x00"), "\x00") {
		f, err := os.Open(filepath.Join(repo, name))
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted in the working tree
		}
		if err != nil {
			return "", errors.Join(err, os.RemoveAll(dir))
		}
		info, err := f.Stat()
		if err == nil && info.Mode().IsRegular() {
			err = writeFile(filepath.Join(dir, name), f, info.Mode())
		}
		f.Close()
		if err != nil {
			return "", errors.Join(err, os.RemoveAll(dir))
		}
	}
	return dir, nil
}

func writeFile(path string, r io.Reader, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode.Perm()|0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	return errors.Join(err, f.Close())
}

func sanitize(rev string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == ':' || r == '~' || r == '^' {
			return '_'
		}
		return r
	}, rev)
}

// Regenerate runs `go generate ./...` in dir, as `make generate` does in the repository.
func Regenerate(dir string) error {
	cmd := exec.Command("go", "generate", "./...")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go generate ./... in a copy of the working tree: %v\n%s", err, out)
	}
	return nil
}

// PackageReport is what changed in one package's exported API.
type PackageReport struct {
	Dir          string   // relative to the module root, e.g. "gen"
	Incompatible []string // apidiff's messages, e.g. "MarkChatConversationReadRequest.SeenUntilSequenceID: removed"
	Compatible   int
	// NewErrors are why the new side does not compile, OldErrors the old side's; apidiff cannot compare
	// a package that does not compile.
	NewErrors, OldErrors []string
	Missing              string // "old" or "new" when the package exists on one side only
}

// Broken reports whether the change breaks the package's users: an incompatible change, or new code that
// does not compile.
func (r PackageReport) Broken() bool {
	return len(r.Incompatible) > 0 || len(r.NewErrors) > 0 || r.Missing == "new"
}

// Compare reports each of dirs (package directories relative to the module roots oldRoot and newRoot).
func Compare(oldRoot, newRoot string, dirs []string) ([]PackageReport, error) {
	oldPkgs, err := load(oldRoot, dirs)
	if err != nil {
		return nil, err
	}
	newPkgs, err := load(newRoot, dirs)
	if err != nil {
		return nil, err
	}
	var reports []PackageReport
	for _, dir := range dirs {
		r := PackageReport{Dir: dir}
		oldPkg, newPkg := oldPkgs[dir], newPkgs[dir]
		switch {
		case oldPkg == nil && newPkg == nil:
			continue
		case oldPkg == nil:
			r.Missing = "old"
		case newPkg == nil:
			r.Missing = "new"
		default:
			r.OldErrors = errorLines(oldRoot, oldPkg)
			r.NewErrors = errorLines(newRoot, newPkg)
			if len(r.OldErrors) == 0 && len(r.NewErrors) == 0 {
				for _, c := range apidiff.Changes(oldPkg.Types, newPkg.Types).Changes {
					if c.Compatible {
						r.Compatible++
					} else {
						r.Incompatible = append(r.Incompatible, c.Message)
					}
				}
				slices.Sort(r.Incompatible)
			}
		}
		reports = append(reports, r)
	}
	return reports, nil
}

// load type-checks the packages in dirs of the module at root, keyed by dir; a dir with no package is
// left out.
func load(root string, dirs []string) (map[string]*packages.Package, error) {
	patterns := make([]string, len(dirs))
	for i, dir := range dirs {
		patterns[i] = "./" + dir
	}
	cfg := &packages.Config{
		Mode: packages.NeedName | packages.NeedFiles | packages.NeedSyntax | packages.NeedTypes |
			packages.NeedTypesInfo | packages.NeedImports,
		Dir: root,
		Env: append(os.Environ(), "GOWORK=off"),
	}
	pkgs, err := packages.Load(cfg, patterns...)
	if err != nil {
		return nil, fmt.Errorf("loading %s in %s: %w", strings.Join(patterns, " "), root, err)
	}
	byDir := map[string]*packages.Package{}
	for _, p := range pkgs {
		if len(p.GoFiles) == 0 {
			continue // a pattern that matched no package
		}
		rel, err := filepath.Rel(root, filepath.Dir(p.GoFiles[0]))
		if err != nil {
			return nil, err
		}
		if p.Types == nil {
			p.Types = types.NewPackage(p.PkgPath, p.Name)
		}
		byDir[filepath.ToSlash(rel)] = p
	}
	return byDir, nil
}

// errorLines are p's errors, positions relative to root, at most a few: the first is usually the one
// that says what to fix. Type errors are preferred: go list reports the same ones again as compiler
// output.
func errorLines(root string, p *packages.Package) []string {
	const keep = 5
	errs := slices.DeleteFunc(slices.Clone(p.Errors), func(e packages.Error) bool { return e.Kind != packages.TypeError })
	if len(errs) == 0 {
		errs = p.Errors
	}
	var lines []string
	for _, e := range errs {
		for line := range strings.SplitSeq(e.Error(), "\n") {
			line = strings.TrimPrefix(strings.ReplaceAll(line, root+string(filepath.Separator), ""), "-: ")
			if line == "" || strings.HasPrefix(line, "# ") || slices.Contains(lines, line) {
				continue
			}
			lines = append(lines, line)
		}
	}
	if len(lines) > keep {
		lines = append(lines[:keep], fmt.Sprintf("… and %d more", len(lines)-keep))
	}
	return lines
}

// Print writes the reports, or "none" when no package changed incompatibly.
func Print(w io.Writer, reports []PackageReport) error {
	var b strings.Builder
	none := true
	for _, r := range reports {
		switch {
		case r.Missing == "new":
			fmt.Fprintf(&b, "  %s: removed\n", r.Dir)
		case r.Missing == "old":
			fmt.Fprintf(&b, "  %s: new package\n", r.Dir)
		case len(r.NewErrors) > 0:
			fmt.Fprintf(&b, "  %s: does not compile:\n", r.Dir)
			for _, line := range r.NewErrors {
				fmt.Fprintf(&b, "    %s\n", line)
			}
		case len(r.OldErrors) > 0:
			fmt.Fprintf(&b, "  %s: cannot compare, the old version does not compile: %s\n", r.Dir, r.OldErrors[0])
		default:
			for _, msg := range r.Incompatible {
				fmt.Fprintf(&b, "  %s: %s\n", r.Dir, msg)
			}
		}
		if r.Broken() || len(r.OldErrors) > 0 || r.Missing != "" {
			none = false
		}
	}
	if none {
		b.WriteString("  none\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
