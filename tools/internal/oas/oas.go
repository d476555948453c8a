// Package oas compares OpenAPI documents with oasdiff and describes each change in one line, classified
// breaking, warning or info as oasdiff's checks classify it.
package oas

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/oasdiff/oasdiff/checker"
	"github.com/oasdiff/oasdiff/diff"
	"github.com/oasdiff/oasdiff/load"
	"go.yaml.in/yaml/v3"
)

// Level is how much a change matters to a client built from the base document.
type Level int

const (
	Info     Level = iota // nothing a client relies on changed
	Warning               // may break a client, depending on how it uses the API
	Breaking              // breaks a client built from the base document
)

func (l Level) String() string {
	switch l {
	case Breaking:
		return "breaking"
	case Warning:
		return "warning"
	}
	return "info"
}

// Change is one difference between two documents.
type Change struct {
	Level Level
	// Check is oasdiff's check ID (docs/CHECKS.md in oasdiff), or one of this package's own,
	// PathParameterRenamed and OperationPathChanged.
	Check string
	Where string // "POST /2/chat/conversations/{id}/read", or "components" or "info"
	Text  string
	// Args are the check's arguments as oasdiff gives them (names, paths, status codes), for matching.
	Args []any
}

// String is the change in one line: level, where, what, and the check's ID in brackets.
func (c Change) String() string {
	return fmt.Sprintf("%-8s  %s: %s [%s]", c.Level, c.Where, c.Text, c.Check)
}

// Doc is a loaded document and the name it is reported under.
type Doc struct {
	Name string
	Info *load.SpecInfo
}

// Version is the document's info.version, or "no info.version".
func (d Doc) Version() string {
	if d.Info.Version == "" {
		return "no info.version"
	}
	return d.Info.Version
}

// MaxSize bounds what the tools read: X's whole definition is about 1.1 MB.
const MaxSize = 8 << 20

// maxNodes bounds a YAML document's nodes with every alias expanded, so that a few kilobytes of nested
// aliases cannot make the loader build gigabytes. X's whole definition, about 1.1 MB without aliases,
// has at most about 550 000: a node takes two bytes or more.
const maxNodes = 1_000_000

// ReadFile reads the file at path, reported as name, refusing without reading it whole anything that is
// not a regular file (a FIFO or /dev/zero never ends) or is larger than MaxSize.
func ReadFile(path, name string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", name)
	}
	if info.Size() > MaxSize {
		return nil, tooLarge(name)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1)) // the file may grow after Stat
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(data) > MaxSize {
		return nil, tooLarge(name)
	}
	return data, nil
}

func tooLarge(name string) error {
	return fmt.Errorf("%s: larger than %d MiB; X's whole definition is about 1 MB", name, MaxSize>>20)
}

// CheckYAML refuses a document larger than MaxSize or whose aliases expand to more than maxNodes nodes.
// Text that is not YAML passes: the loader then tries it as JSON, which has no aliases.
func CheckYAML(data []byte, name string) error {
	if len(data) > MaxSize {
		return tooLarge(name)
	}
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		return nil
	}
	if _, err := expandedNodes(&root, map[*yaml.Node]int{}); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// expandedNodes counts n's nodes with every alias expanded, each anchored node counted once (memo) and
// the count stopped as soon as it passes maxNodes.
func expandedNodes(n *yaml.Node, memo map[*yaml.Node]int) (int, error) {
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return 1, nil
		}
		n = n.Alias
	}
	if count, ok := memo[n]; ok {
		if count < 0 {
			return 0, errors.New("a YAML alias refers to a node that contains it")
		}
		return count, nil
	}
	memo[n] = -1 // in progress
	count := 1
	for _, child := range n.Content {
		c, err := expandedNodes(child, memo)
		if err != nil {
			return 0, err
		}
		if count += c; count > maxNodes {
			return 0, fmt.Errorf("more than %d YAML nodes with its aliases expanded", maxNodes)
		}
	}
	memo[n] = count
	return count, nil
}

// Load parses an OpenAPI 3 document, JSON or YAML, with every $ref resolved. References to other files
// or URLs are refused, never read: X publishes its definition as one file, and the project's fragment is
// one file too. A panic inside the libraries becomes an error naming the document.
func Load(data []byte, name string) (doc Doc, err error) {
	if err := CheckYAML(data, name); err != nil {
		return Doc{}, err
	}
	defer recoverAs(&err, name)
	loader := openapi3.NewLoader() // one per document: the loader caches by name
	loader.IsExternalRefsAllowed = false
	info, err := load.NewSpecInfoFromData(loader, data, name)
	if err != nil {
		return Doc{}, fmt.Errorf("%s: %w", name, err)
	}
	return Doc{Name: name, Info: info}, nil
}

// recoverAs turns a panic into *err, in one line naming the document: a library's panic on a strange
// document is that document's fault, not a reason to print a goroutine dump.
func recoverAs(err *error, name string) {
	if v := recover(); v != nil {
		*err = fmt.Errorf("%s: the OpenAPI libraries cannot handle it: %s", name, strings.Join(strings.Fields(fmt.Sprint(v)), " "))
	}
}

// Operation finds the path template and method of the operation with the given operationId.
func (d Doc) Operation(operationID string) (path, method string, err error) {
	for p, item := range d.Info.Spec.Paths.Map() {
		for m, op := range item.Operations() {
			if op.OperationID == operationID {
				if path != "" {
					return "", "", fmt.Errorf("%s: two operations have the operationId %s", d.Name, operationID)
				}
				path, method = p, m
			}
		}
	}
	if path == "" {
		return "", "", fmt.Errorf("%s: no operation has the operationId %s", d.Name, operationID)
	}
	return path, method, nil
}

// Isolate returns a document that holds only the operation with the given operationId, under the path
// template at (its own when at is ""), and the security schemes. Schemas need not come along: the loader
// has resolved every $ref, and oasdiff compares what a reference resolves to. Leaving the rest out keeps
// X's hundreds of other operations and its component names out of the comparison.
func (d Doc) Isolate(operationID, at string) (Doc, error) {
	path, method, err := d.Operation(operationID)
	if err != nil {
		return Doc{}, err
	}
	if at == "" {
		at = path
	}
	src := d.Info.Spec
	item := &openapi3.PathItem{Parameters: src.Paths.Value(path).Parameters}
	item.SetOperation(method, src.Paths.Value(path).GetOperation(method))
	doc := &openapi3.T{
		OpenAPI:    src.OpenAPI,
		Info:       src.Info,
		Servers:    src.Servers,
		Security:   src.Security,
		Paths:      openapi3.NewPaths(openapi3.WithPath(at, item)),
		Components: &openapi3.Components{},
	}
	if src.Components != nil {
		doc.Components.SecuritySchemes = src.Components.SecuritySchemes
	}
	return Doc{Name: d.Name, Info: &load.SpecInfo{Spec: doc, Url: d.Info.Url, Version: d.Info.Version}}, nil
}

// Compare lists every change from base to revision, most severe first: oasdiff's checks down to info
// level, and the path changes of PathChanges, which oasdiff does not report.
// Recursive schemas are refused: oasdiff's checks recurse through them until the stack overflows, which
// no recover can catch.
func Compare(base, revision Doc) (changes []Change, err error) {
	for _, doc := range []Doc{base, revision} {
		if err := checkCycles(doc); err != nil {
			return nil, err
		}
	}
	defer recoverAs(&err, base.Name+" against "+revision.Name)
	d, sources, err := diff.GetWithOperationsSourcesMap(diff.NewConfig(), base.Info, revision.Info)
	if err != nil {
		return nil, fmt.Errorf("comparing %s with %s: %w", base.Name, revision.Name, err)
	}
	config := checker.NewConfig(checker.GetAllChecks(), checker.WithSeverityLevels(map[string]checker.Level{
		// X's info.version is not semantic versioning: it grows by a minor step, breaking or not.
		checker.APIVersionNotBumpedId:      checker.NONE,
		checker.APIVersionDecreasedId:      checker.NONE,
		checker.APIMajorVersionNotBumpedId: checker.NONE,
	}))
	localizer := checker.NewDefaultLocalizer()
	changes = PathChanges(base, revision)
	for _, c := range checker.CheckBackwardCompatibilityUntilLevel(config, d, sources, checker.INFO) {
		level := Info
		switch c.GetLevel() {
		case checker.ERR:
			level = Breaking
		case checker.WARN:
			level = Warning
		}
		where := c.GetSection()
		if c.GetOperation() != "" {
			where = c.GetOperation() + " " + c.GetPath()
		}
		changes = append(changes, Change{Level: level, Check: c.GetId(), Where: where, Text: c.GetUncolorizedText(localizer), Args: c.GetArgs()})
	}
	slices.SortStableFunc(changes, func(a, b Change) int { return int(b.Level) - int(a.Level) })
	return changes, nil
}

// checkCycles refuses a document with a schema that contains itself, through any chain of $refs, in the
// parameters, bodies or headers of its operations.
func checkCycles(d Doc) error {
	state := map[*openapi3.Schema]int{} // 1 on the current path, 2 done
	var walk func(ref *openapi3.SchemaRef, name string) error
	walk = func(ref *openapi3.SchemaRef, name string) error {
		if ref == nil || ref.Value == nil {
			return nil
		}
		if ref.Ref != "" {
			name = ref.Ref
		}
		s := ref.Value
		switch state[s] {
		case 1:
			return fmt.Errorf("%s: the schema %s contains itself; recursive schemas cannot be compared", d.Name, name)
		case 2:
			return nil
		}
		state[s] = 1
		children := append(append(append([]*openapi3.SchemaRef{s.Items, s.Not}, s.AllOf...), s.AnyOf...), s.OneOf...)
		children = append(children, s.AdditionalProperties.Schema)
		for _, p := range s.Properties {
			children = append(children, p)
		}
		for _, c := range children {
			if err := walk(c, name); err != nil {
				return err
			}
		}
		state[s] = 2
		return nil
	}
	var roots []*openapi3.SchemaRef
	content := func(c openapi3.Content) {
		for _, m := range c {
			roots = append(roots, m.Schema)
		}
	}
	for _, item := range d.Info.Spec.Paths.Map() {
		for _, op := range item.Operations() {
			for _, p := range append(slices.Clone(item.Parameters), op.Parameters...) {
				if p.Value != nil {
					roots = append(roots, p.Value.Schema)
					content(p.Value.Content)
				}
			}
			if op.RequestBody != nil && op.RequestBody.Value != nil {
				content(op.RequestBody.Value.Content)
			}
			for _, r := range op.Responses.Map() {
				if r.Value != nil {
					content(r.Value.Content)
					for _, h := range r.Value.Headers {
						if h.Value != nil {
							roots = append(roots, h.Value.Schema)
						}
					}
				}
			}
		}
	}
	for _, r := range roots {
		if err := walk(r, "an inline schema"); err != nil {
			return err
		}
	}
	return nil
}

// Checks of this package's own, for what oasdiff does not report.
const (
	PathParameterRenamed = "path-parameter-renamed"
	OperationPathChanged = "operation-path-changed"
)

var pathParameter = regexp.MustCompile(`\{[^}]*\}`)

// PathChanges reports, for each operationId in both documents, a path template that changed: a renamed
// path parameter (info: the request sent is the same) or another path (breaking: a client built from
// base sends to the old one). oasdiff matches paths whatever their parameters are named, so it reports
// neither a rename nor, when Isolate has put both operations under one path, a move.
func PathChanges(base, revision Doc) []Change {
	var changes []Change
	for path, item := range base.Info.Spec.Paths.Map() {
		for method, op := range item.Operations() {
			if op.OperationID == "" {
				continue
			}
			newPath, newMethod, err := revision.Operation(op.OperationID)
			if err != nil || newPath == path {
				continue
			}
			where := newMethod + " " + newPath
			oldNames, newNames := pathParameter.FindAllString(path, -1), pathParameter.FindAllString(newPath, -1)
			if pathParameter.ReplaceAllString(path, "{}") != pathParameter.ReplaceAllString(newPath, "{}") || method != newMethod {
				changes = append(changes, Change{Level: Breaking, Check: OperationPathChanged, Where: where,
					Text: fmt.Sprintf("operation %s moved from %s %s to %s %s", op.OperationID, method, path, newMethod, newPath),
					Args: []any{op.OperationID, path, newPath}})
				continue
			}
			for i := range oldNames {
				if oldNames[i] != newNames[i] {
					changes = append(changes, Change{Level: Info, Check: PathParameterRenamed, Where: where,
						Text: fmt.Sprintf("renamed the path parameter `%s` to `%s`; the request sent is the same",
							strings.Trim(oldNames[i], "{}"), strings.Trim(newNames[i], "{}")),
						Args: []any{strings.Trim(oldNames[i], "{}"), strings.Trim(newNames[i], "{}")}})
				}
			}
		}
	}
	return changes
}

// Counts says how many changes there are of each level, e.g. "1 breaking, 1 warning, 0 info".
func Counts(changes []Change) string {
	var n [3]int
	for _, c := range changes {
		n[c.Level]++
	}
	return fmt.Sprintf("%d breaking, %d warning, %d info", n[Breaking], n[Warning], n[Info])
}

// HasBreaking reports whether any change is breaking.
func HasBreaking(changes []Change) bool {
	return slices.ContainsFunc(changes, func(c Change) bool { return c.Level == Breaking })
}

// Print writes one indented line per change and the counts, or that there is no change.
func Print(w io.Writer, changes []Change) error {
	var b strings.Builder
	if len(changes) == 0 {
		b.WriteString("  no changes\n")
	}
	for _, c := range changes {
		b.WriteString("  " + c.String() + "\n")
	}
	if len(changes) > 0 {
		b.WriteString("  " + Counts(changes) + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// OasdiffVersion is the version of oasdiff built into this program, for the report's heading.
func OasdiffVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "github.com/oasdiff/oasdiff" {
				return dep.Version
			}
		}
	}
	return "(unknown version)"
}
