// Package specdiff answers "what did X change?": it picks markread's operation out of X's whole
// definition by operationId, compares it with spec/openapi.yaml, and leaves out the differences that the
// fragment's deliberate simplifications (spec/simplifications.yaml) account for.
package specdiff

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/xchat-go/markread/tools/internal/oas"
)

// Simplifications is spec/simplifications.yaml.
type Simplifications struct {
	OperationID     string           `yaml:"operationId"`
	Simplifications []Simplification `yaml:"simplifications"`
}

// Simplification is one deliberate difference between the fragment and X's definition.
type Simplification struct {
	Name    string    `yaml:"name"`
	Reason  string    `yaml:"reason"`
	Changes []Matcher `yaml:"changes"`
}

// Matcher accounts for the changes of one oasdiff check whose arguments begin with Args ("*" matches any
// one argument).
type Matcher struct {
	Check string   `yaml:"check"`
	Args  []string `yaml:"args"`
}

func (m Matcher) matches(c oas.Change) bool {
	if c.Check != m.Check || len(c.Args) < len(m.Args) {
		return false
	}
	for i, want := range m.Args {
		if want != "*" && fmt.Sprint(c.Args[i]) != want {
			return false
		}
	}
	return true
}

// LoadSimplifications reads and checks a simplifications file: every entry needs a name, a reason and
// at least one check, so that nothing is left out of a report without saying why.
func LoadSimplifications(path string) (*Simplifications, error) {
	data, err := oas.ReadFile(path, path)
	if err != nil {
		return nil, err
	}
	if err := oas.CheckYAML(data, path); err != nil {
		return nil, err
	}
	var s Simplifications
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if s.OperationID == "" {
		return nil, fmt.Errorf("%s: operationId is missing", path)
	}
	for i, simp := range s.Simplifications {
		if simp.Name == "" || strings.TrimSpace(simp.Reason) == "" || len(simp.Changes) == 0 {
			return nil, fmt.Errorf("%s: simplifications[%d] needs a name, a reason and at least one change", path, i)
		}
		for j, m := range simp.Changes {
			if m.Check == "" {
				return nil, fmt.Errorf("%s: simplifications[%d] (%s) changes[%d] has no check", path, i, simp.Name, j)
			}
		}
	}
	return &s, nil
}

// Sort splits changes into those no simplification accounts for and, per simplification name, how many
// it accounts for.
func (s *Simplifications) Sort(changes []oas.Change) (left []oas.Change, accounted map[string]int) {
	accounted = map[string]int{}
	for _, c := range changes {
		name := ""
		for _, simp := range s.Simplifications {
			if slices.ContainsFunc(simp.Changes, func(m Matcher) bool { return m.matches(c) }) {
				name = simp.Name
				break
			}
		}
		if name == "" {
			left = append(left, c)
		} else {
			accounted[name]++
		}
	}
	return left, accounted
}

// Report is what spec-diff found.
type Report struct {
	OperationID string
	Spec, New   oas.Doc
	Old         *oas.Doc // nil without OLD

	// XChanges is X's own change from Old to New (nil without Old).
	XChanges []oas.Change
	// Changes are what New's operation changes against the spec, beyond the simplifications.
	Changes []oas.Change
	// Accounted counts the changes each simplification left out; Unused names those that left out none.
	Accounted map[string]int
	Unused    []string
}

// Options are the inputs of Run.
type Options struct {
	SpecPath, SimplificationsPath string
	NewPath, OldPath              string // OldPath may be ""
	// Name gives the name a file is reported under (its path when nil).
	Name func(path string) string
}

// Run compares X's definition at NewPath (and, with OldPath, X's own change from OldPath) with the spec.
func Run(opts Options) (*Report, error) {
	simps, err := LoadSimplifications(opts.SimplificationsPath)
	if err != nil {
		return nil, err
	}
	load := func(path string) (oas.Doc, error) {
		name := path
		if opts.Name != nil {
			name = opts.Name(path)
		}
		data, err := oas.ReadFile(path, name)
		if err != nil {
			return oas.Doc{}, err
		}
		return oas.Load(data, name)
	}
	r := &Report{OperationID: simps.OperationID}
	if r.Spec, err = load(opts.SpecPath); err != nil {
		return nil, err
	}
	if r.New, err = load(opts.NewPath); err != nil {
		return nil, err
	}
	specOp, err := r.Spec.Isolate(r.OperationID, "")
	if err != nil {
		return nil, err
	}
	if opts.OldPath != "" {
		old, err := load(opts.OldPath)
		if err != nil {
			return nil, err
		}
		r.Old = &old
		oldOp, err := old.Isolate(r.OperationID, "")
		if err != nil {
			return nil, err
		}
		if r.XChanges, err = compareOperation(oldOp, r.New, r.OperationID); err != nil {
			return nil, err
		}
	}
	all, err := compareOperation(specOp, r.New, r.OperationID)
	if err != nil {
		return nil, err
	}
	r.Changes, r.Accounted = simps.Sort(all)
	for _, simp := range simps.Simplifications {
		if r.Accounted[simp.Name] == 0 {
			r.Unused = append(r.Unused, simp.Name)
		}
	}
	return r, nil
}

// compareOperation compares the operation in base, an isolated document, with the same operation in
// revision, a whole definition. When the operation moved to another path, the move is reported and the
// revision's operation is put under base's path, so that oasdiff compares the operation itself instead
// of reporting one endpoint removed and another added. (oasdiff matches paths that differ only in their
// parameters' names by itself.)
func compareOperation(base, revision oas.Doc, operationID string) ([]oas.Change, error) {
	basePath, _, err := base.Operation(operationID)
	if err != nil {
		return nil, err
	}
	own, err := revision.Isolate(operationID, "")
	if err != nil {
		return nil, err
	}
	moved := oas.PathChanges(base, own)
	if slices.ContainsFunc(moved, func(c oas.Change) bool { return c.Check == oas.OperationPathChanged }) {
		if own, err = revision.Isolate(operationID, basePath); err != nil {
			return nil, err
		}
	} else {
		moved = nil // a renamed path parameter only: Compare finds it again
	}
	changes, err := oas.Compare(base, own)
	if err != nil {
		return nil, err
	}
	return append(moved, changes...), nil
}

// Print writes the report for a person.
func (r *Report) Print(w io.Writer) error {
	var b strings.Builder
	name := func(d oas.Doc) string { return fmt.Sprintf("%s (X %s)", d.Name, d.Version()) }
	if r.Old != nil {
		fmt.Fprintf(&b, "X's own change to %s: %s → %s\n", r.OperationID, name(*r.Old), name(r.New))
		if err := oas.Print(&b, r.XChanges); err != nil {
			return err
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "%s in %s against %s:\n", r.OperationID, name(r.New), name(r.Spec))
	if len(r.Changes) == 0 {
		b.WriteString("  no differences beyond the deliberate simplifications\n")
	} else if err := oas.Print(&b, r.Changes); err != nil {
		return err
	}
	var names []string
	for n := range r.Accounted {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(names) > 0 {
		var parts []string
		for _, n := range names {
			parts = append(parts, fmt.Sprintf("%s (%d)", n, r.Accounted[n]))
		}
		fmt.Fprintf(&b, "  left out as deliberate simplifications (spec/simplifications.yaml): %s\n", strings.Join(parts, ", "))
	}
	if len(r.Unused) > 0 {
		fmt.Fprintf(&b, "  simplifications this definition no longer calls for: %s\n", strings.Join(r.Unused, ", "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
