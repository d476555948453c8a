package specdiff

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/xchat-go/markread/tools/internal/oas"
)

// The fixtures in testdata are hand-written fragments that replay X's history of this operation
// (X-API-NOTES.md): 2.159 → 2.160 renamed the path parameter and widened the pattern to three ID forms;
// 2.160 → 2.167 made data.success required, dropped errors' minItems and turned Problem into a oneOf;
// 2.167 → 2.170 renamed the tag and grew the oneOf. The tests compare them with fragment-2.167.yaml and
// its simplifications, the project's spec as it stood at 2.167, never with spec/ itself: editing the spec
// must fail only the tests that mirror it in the client.

const (
	fragment        = "testdata/fragment-2.167.yaml"
	simplifications = "testdata/simplifications.yaml"
	x2159           = "testdata/x-2.159.yaml"
	x2160           = "testdata/x-2.160.yaml"
	x2167           = "testdata/x-2.167.yaml"
	x2170           = "testdata/x-2.170.yaml"
)

func run(t *testing.T, newPath, oldPath string) *Report {
	t.Helper()
	r, err := Run(Options{
		SpecPath:            fragment,
		SimplificationsPath: simplifications,
		NewPath:             newPath,
		OldPath:             oldPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// summary is each change as "level check", sorted, for comparing with a list.
func summary(changes []oas.Change) []string {
	var s []string
	for _, c := range changes {
		s = append(s, c.Level.String()+" "+c.Check)
	}
	slices.Sort(s)
	return s
}

func printed(t *testing.T, r *Report) string {
	t.Helper()
	var b strings.Builder
	if err := r.Print(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestXsOwnChanges(t *testing.T) {
	tests := []struct {
		old, new string
		want     []string
	}{
		{x2159, x2160, []string{
			"info path-parameter-renamed",
			"warning request-parameter-pattern-changed",
		}},
		{x2160, x2167, []string{
			"breaking response-body-wrapped-in-one-of",
			"breaking response-property-min-items-unset",
			"breaking response-property-one-of-added",
			"info response-property-became-required",
		}},
		// What X-API-NOTES.md says oasdiff reports for the whole stretch: 3 breaking, 1 warning.
		{x2159, x2167, []string{
			"breaking response-body-wrapped-in-one-of",
			"breaking response-property-min-items-unset",
			"breaking response-property-one-of-added",
			"info path-parameter-renamed",
			"info response-property-became-required",
			"warning request-parameter-pattern-changed",
		}},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.old)+"→"+filepath.Base(tt.new), func(t *testing.T) {
			r := run(t, tt.new, tt.old)
			if got := summary(r.XChanges); !slices.Equal(got, tt.want) {
				t.Errorf("X's own change:\n got %q\nwant %q", got, tt.want)
			}
			out := printed(t, r)
			oldVersion := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(tt.old), "x-"), ".yaml")
			newVersion := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(tt.new), "x-"), ".yaml")
			for _, want := range []string{"(X " + oldVersion + ") → ", "(X " + newVersion + ")", fragment + " (X 2.167)"} {
				if !strings.Contains(out, want) {
					t.Errorf("the report does not name %q:\n%s", want, out)
				}
			}
		})
	}
}

func TestPatternChangeNamesBothPatterns(t *testing.T) {
	r := run(t, x2160, x2159)
	i := slices.IndexFunc(r.XChanges, func(c oas.Change) bool { return c.Check == "request-parameter-pattern-changed" })
	if i < 0 {
		t.Fatalf("no pattern change in %v", summary(r.XChanges))
	}
	text := r.XChanges[i].Text
	if !strings.Contains(text, "`^([0-9]{1,19}-[0-9]{1,19}|g[0-9]{1,19})$`") || !strings.Contains(text, "`^([0-9]{1,19}|[0-9]{1,19}-[0-9]{1,19}|g[0-9]{1,19})$`") {
		t.Errorf("the pattern change does not give both patterns: %s", text)
	}
}

// Today's X (the 2.167 fixture) differs from the fragment only where the fragment simplifies on purpose.
func TestX2167ReportsNothing(t *testing.T) {
	r := run(t, x2167, "")
	if len(r.Changes) != 0 {
		t.Errorf("2.167 against the spec: %v, want nothing beyond the simplifications", summary(r.Changes))
	}
	if r.Accounted["lenient-problem"] != 2 || r.Accounted["used-schemes-and-scopes-only"] == 0 || len(r.Unused) != 0 {
		t.Errorf("accounted %v, unused %v; want lenient-problem twice and used-schemes-and-scopes-only", r.Accounted, r.Unused)
	}
	if out := printed(t, r); !strings.Contains(out, "no differences beyond the deliberate simplifications") {
		t.Errorf("report:\n%s", out)
	}
}

// X's own file, where it is at hand (it is never committed: its license is X's): the fragment as it stood
// at 2.167 reports nothing against X's 2.167, and only the tag's move against 2.170, as the 2.170 fixture.
func TestXsPublishedDefinitions(t *testing.T) {
	for version, want := range map[string][]string{
		"x-openapi-mark-read.yaml":       nil,
		"x-openapi-mark-read-2.170.yaml": {"info api-tag-added", "info api-tag-removed"},
	} {
		path := filepath.Join("..", "..", "..", "shared", "reference", version)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			t.Skip("X's definition is not beside the repository:", path)
		}
		r := run(t, path, "")
		if got := summary(r.Changes); !slices.Equal(got, want) || len(r.Unused) != 0 {
			t.Errorf("%s (X %s) against the 2.167 fragment: %q, unused simplifications %v; want %q", path, r.New.Version(), got, r.Unused, want)
		}
	}
}

// 2.170 moved the tag and grew the Problem oneOf: the move is reported (it is no longer X's definition),
// the growth is what the lenient Problem accounts for.
func TestX2170ReportsTheMovedTag(t *testing.T) {
	r := run(t, x2170, x2167)
	want := []string{"info api-tag-added", "info api-tag-removed"}
	if got := summary(r.Changes); !slices.Equal(got, want) {
		t.Errorf("against the fragment: %q, want %q", got, want)
	}
	if r.Accounted["lenient-problem"] != 2 {
		t.Errorf("accounted %v, want lenient-problem twice", r.Accounted)
	}
	if got := summary(r.XChanges); !slices.Contains(got, "info api-tag-added") {
		t.Errorf("X's own change: %q, want the tag's move among them", got)
	}
}

// 2.160 is what the spec would be generated from had it not moved on: what 2.167 added shows up.
func TestX2160AgainstTheSpec(t *testing.T) {
	r := run(t, x2160, "")
	want := []string{"breaking response-property-became-optional", "info response-property-min-items-set"}
	if got := summary(r.Changes); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if !slices.Equal(r.Unused, []string{"lenient-problem"}) {
		t.Errorf("unused simplifications %v, want lenient-problem (2.160's Problem is one object)", r.Unused)
	}
}

// X publishes JSON; the same definition as JSON reports the same.
func TestJSONDefinition(t *testing.T) {
	data, err := os.ReadFile(x2167)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "openapi.json")
	if err := os.WriteFile(path, js, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := run(t, path, ""); len(r.Changes) != 0 {
		t.Errorf("2.167 as JSON: %v, want nothing", summary(r.Changes))
	}
}

// writeVariant writes the 2.167 fixture with old replaced by new.
func writeVariant(t *testing.T, old, new string) string {
	t.Helper()
	data, err := os.ReadFile(x2167)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		t.Fatalf("%s has no %q", x2167, old)
	}
	path := filepath.Join(t.TempDir(), "x.yaml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(data), old, new)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// An operation X moves to another path is still found by its operationId; the move is breaking, and the
// operation is compared as it is, not reported as one endpoint gone and another new.
func TestMovedOperationIsFoundByItsID(t *testing.T) {
	r := run(t, writeVariant(t, "/2/chat/conversations/{id}/read:", "/2/dm_conversations/{id}/read:"), "")
	if got := summary(r.Changes); !slices.Equal(got, []string{"breaking operation-path-changed"}) {
		t.Errorf("got %q, want only the move", got)
	}
}

// A change the simplifications do not cover is reported even next to ones they do.
func TestRealChangeIsReported(t *testing.T) {
	r := run(t, writeVariant(t, "required: [seen_until_sequence_id]\n      properties:\n        seen_until_sequence_id:",
		"required: [seen_until_message_id]\n      properties:\n        seen_until_message_id:"), "")
	want := []string{"breaking new-required-request-property", "warning request-property-removed"}
	if got := summary(r.Changes); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestMissingOperationIsAnError(t *testing.T) {
	_, err := Run(Options{
		SpecPath:            fragment,
		SimplificationsPath: simplifications,
		NewPath:             writeVariant(t, "operationId: markChatConversationRead", "operationId: markConversationRead"),
	})
	if err == nil || !strings.Contains(err.Error(), "no operation has the operationId markChatConversationRead") {
		t.Errorf("got %v, want an error naming the operationId", err)
	}
}

func TestSimplificationsNeedAReason(t *testing.T) {
	// The live file too: a reasonless entry there would hide changes from every report.
	for _, path := range []string{simplifications, filepath.Join("..", "..", "spec", "simplifications.yaml")} {
		if _, err := LoadSimplifications(path); err != nil {
			t.Fatal(err)
		}
	}
	for name, text := range map[string]string{
		"no reason":     "operationId: x\nsimplifications:\n  - name: a\n    changes:\n      - check: c\n",
		"no check":      "operationId: x\nsimplifications:\n  - name: a\n    reason: r\n    changes:\n      - args: [b]\n",
		"unknown field": "operationId: x\nsimplifications:\n  - name: a\n    reason: r\n    why: r\n    changes:\n      - check: c\n",
	} {
		path := filepath.Join(t.TempDir(), "s.yaml")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadSimplifications(path); err == nil {
			t.Errorf("%s: loaded without an error", name)
		}
	}
}

func TestMatcherArgs(t *testing.T) {
	change := oas.Change{Check: "response-property-one-of-added", Args: []any{"#/a, #/b", "errors/items", "200"}}
	tests := []struct {
		m    Matcher
		want bool
	}{
		{Matcher{Check: "response-property-one-of-added"}, true},
		{Matcher{Check: "response-property-one-of-added", Args: []string{"*", "errors/items", "200"}}, true},
		{Matcher{Check: "response-property-one-of-added", Args: []string{"*", "data", "200"}}, false},
		{Matcher{Check: "response-property-one-of-added", Args: []string{"*", "errors/items", "200", "x"}}, false},
		{Matcher{Check: "response-body-wrapped-in-one-of"}, false},
	}
	for _, tt := range tests {
		if got := tt.m.matches(change); got != tt.want {
			t.Errorf("%+v matches = %v, want %v", tt.m, got, tt.want)
		}
	}
}
