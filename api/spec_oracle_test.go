package api

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/xchat-go/markread/internal/specoracle"
)

// The tests in this file hold hand-written code that follows spec/openapi.yaml by design to what the spec
// says, and name the spec's member when the two part.

// problemFieldsByJSONName maps each json name of Problem's fields to the field's Go name.
func problemFieldsByJSONName() map[string]string {
	fields := map[string]string{}
	typ := reflect.TypeFor[Problem]()
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			fields[name] = typ.Field(i).Name
		}
	}
	return fields
}

// Every property of the spec's Problem schema must be a field of Problem that decoding fills, rather than
// something left in Extra, and a text member must be redacted of a token a server echoes.
func TestProblemHasEveryPropertyOfTheSpecsProblem(t *testing.T) {
	want, err := specoracle.ForTest(t).Problem()
	if err != nil {
		t.Fatal(err)
	}
	fields := problemFieldsByJSONName()
	for _, name := range want.Names() {
		kind := want.Properties[name]
		field, ok := fields[name]
		if !ok {
			t.Errorf("%s.%s has no field in api.Problem (api/problem.go): add one, and decode it in setKnown", want.Where, name)
			continue
		}
		var sample json.RawMessage
		switch kind {
		case "string":
			sample = json.RawMessage(`"sample ` + testToken + `"`)
		case "integer":
			sample = json.RawMessage(`418`)
		default:
			t.Errorf("%s.%s is of type %q, which api.Problem does not decode: teach setKnown (api/problem.go)", want.Where, name, kind)
			continue
		}
		var p Problem
		if err := json.Unmarshal([]byte(`{"`+name+`":`+string(sample)+`}`), &p); err != nil {
			t.Errorf("%s.%s: decoding a %s into api.Problem: %v", want.Where, name, kind, err)
			continue
		}
		if _, leftOver := p.Extra[name]; leftOver || reflect.ValueOf(p).FieldByName(field).IsZero() {
			t.Errorf("%s.%s: api.Problem.%s stays empty and the member lands in Extra: decode it in setKnown (api/problem.go)",
				want.Where, name, field)
		}
		if kind == "string" {
			problems := []Problem{p}
			redactProblems(problems, []string{testToken})
			if strings.Contains(reflect.ValueOf(problems[0]).FieldByName(field).String(), testToken) {
				t.Errorf("%s.%s: api.Problem.%s keeps an echoed token: redact it in redactProblems (api/redact.go)", want.Where, name, field)
			}
		}
	}
}

// The reverse: every field of Problem decodes a member the spec names, of the problem or of X's older
// error shape, so that a member the spec drops does not linger in the API as if X still sent it.
func TestProblemFieldsAreMembersTheSpecNames(t *testing.T) {
	s := specoracle.ForTest(t)
	problem, err := s.Problem()
	if err != nil {
		t.Fatal(err)
	}
	legacy, err := s.LegacyError()
	if err != nil {
		t.Fatal(err)
	}
	for name, field := range problemFieldsByJSONName() {
		_, inProblem := problem.Properties[name]
		_, inLegacy := legacy.Properties[name]
		if !inProblem && !inLegacy {
			t.Errorf("api.Problem.%s (json %q) is in neither %s nor %s", field, name, problem.Where, legacy.Where)
		}
	}
}

func TestDefaultBaseURLIsTheSpecsServer(t *testing.T) {
	url, where, err := specoracle.ForTest(t).Server()
	if err != nil {
		t.Fatal(err)
	}
	if DefaultBaseURL != url {
		t.Errorf("api.DefaultBaseURL (api/options.go) is %q, but %s is %q", DefaultBaseURL, where, url)
	}
}

// Scopes is the one home of the scopes the command line's help, login and apitest use.
func TestScopesAreTheSpecs(t *testing.T) {
	scopes, err := specoracle.ForTest(t).OAuth2Scopes()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(slices.Sorted(slices.Values(Scopes)), slices.Sorted(slices.Values(scopes.Required))) {
		t.Errorf("api.Scopes (api/oauth2.go) is %v, but %s is %v", Scopes, scopes.Where, scopes.Required)
	}
}
