// Package oas compares OpenAPI documents with oasdiff and describes each change in one line, classified
// breaking, warning or info as oasdiff's checks classify it.
package oas

import (
	"fmt"
	"io"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/oasdiff/oasdiff/checker"
	"github.com/oasdiff/oasdiff/diff"
	"github.com/oasdiff/oasdiff/load"
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

// Load parses an OpenAPI 3 document, JSON or YAML, with every $ref resolved. References to other files
// are refused: X publishes its definition as one file, and the project's fragment is one file too.
func Load(data []byte, name string) (Doc, error) {
	loader := openapi3.NewLoader() // one per document: the loader caches by name
	loader.IsExternalRefsAllowed = false
	info, err := load.NewSpecInfoFromData(loader, data, name)
	if err != nil {
		return Doc{}, fmt.Errorf("%s: %w", name, err)
	}
	return Doc{Name: name, Info: info}, nil
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
func Compare(base, revision Doc) ([]Change, error) {
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
	changes := PathChanges(base, revision)
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
