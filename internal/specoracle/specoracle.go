// Package specoracle reads spec/openapi.yaml for the tests of code that mirrors it by hand: the
// conversation-ID check, the Problem type, the scopes the docs name, the default base URL. Each accessor
// returns what the spec says together with where it says it, so that a test that disagrees can name the
// spec's member in its failure message.
//
// Only tests import this package: it parses the spec with kin-openapi, which a program that imports
// package api must never pay for.
package specoracle

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/xchat-go/markread/spec"
)

// File is the spec's path in the repository, the prefix of every location this package reports.
const File = "spec/openapi.yaml"

// OperationID names the one operation markread implements. It is found by this ID, not by its path,
// because X has renamed the path before.
const OperationID = "markChatConversationRead"

// Spec is spec/openapi.yaml, parsed, with markread's operation found.
type Spec struct {
	doc    *openapi3.T
	path   string // the operation's path template
	method string
	op     *openapi3.Operation
}

// Load parses the embedded spec once per process; the result is only read afterwards.
var Load = sync.OnceValues(func() (*Spec, error) {
	doc, err := openapi3.NewLoader().LoadFromData(spec.OpenAPI())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", File, err)
	}
	s := &Spec{doc: doc}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.OperationID == OperationID {
				s.path, s.method, s.op = path, strings.ToLower(method), op
			}
		}
	}
	if s.op == nil {
		return nil, fmt.Errorf("%s: no operation with operationId %s", File, OperationID)
	}
	return s, nil
})

// ForTest is Load for a test: it stops the test when the spec does not load.
func ForTest(t testing.TB) *Spec {
	t.Helper()
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// operationAt is where the operation is, e.g. `paths["/2/chat/conversations/{id}/read"].post`.
func (s *Spec) operationAt() string {
	return fmt.Sprintf("%s: paths[%q].%s", File, s.path, s.method)
}

// componentAt is where a $ref points, e.g. components.schemas.Problem; inline is used for an inline schema.
func componentAt(ref, inline string) string {
	if name, ok := strings.CutPrefix(ref, "#/"); ok {
		return File + ": " + strings.ReplaceAll(name, "/", ".")
	}
	return inline
}

// Pattern is a string parameter's pattern and where the spec states it.
type Pattern struct {
	Parameter string // the parameter's name, e.g. "id"
	Pattern   string // as written, an ECMA-262 regular expression
	Where     string
}

// ConversationIDPattern is the pattern of the operation's one path parameter, the conversation ID.
func (s *Spec) ConversationIDPattern() (Pattern, error) {
	var found []Pattern
	for i, ref := range s.op.Parameters {
		p := ref.Value
		if p == nil || p.In != openapi3.ParameterInPath {
			continue
		}
		where := fmt.Sprintf("%s.parameters[%d] (%s, in path).schema.pattern", s.operationAt(), i, p.Name)
		if p.Schema == nil || p.Schema.Value == nil || p.Schema.Value.Pattern == "" {
			return Pattern{}, fmt.Errorf("%s is missing", where)
		}
		found = append(found, Pattern{Parameter: p.Name, Pattern: p.Schema.Value.Pattern, Where: where})
	}
	if len(found) != 1 {
		return Pattern{}, fmt.Errorf("%s: want exactly one path parameter, found %d", s.operationAt(), len(found))
	}
	return found[0], nil
}

// Regexp compiles the pattern. The spec's dialect is ECMA-262; the patterns X writes (digit classes,
// counted repeats, alternation, anchors) mean the same in Go's syntax.
func (p Pattern) Regexp() (*regexp.Regexp, error) {
	re, err := regexp.Compile(p.Pattern)
	if err != nil {
		return nil, fmt.Errorf("%s %q does not compile as a Go regexp: %w", p.Where, p.Pattern, err)
	}
	return re, nil
}

// Members are an object schema's properties and where the spec lists them.
type Members struct {
	Schema     string            // the schema's component name, e.g. "Problem" ("" when inline)
	Properties map[string]string // property name → its JSON type ("string", "integer", …)
	Required   []string
	Where      string // of the properties, e.g. spec/openapi.yaml: components.schemas.Problem.properties
}

// Names are the property names, sorted.
func (m Members) Names() []string {
	names := make([]string, 0, len(m.Properties))
	for name := range m.Properties {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func members(ref *openapi3.SchemaRef, inline string) (Members, error) {
	if ref == nil || ref.Value == nil {
		return Members{}, fmt.Errorf("%s is missing", inline)
	}
	at := componentAt(ref.Ref, inline)
	m := Members{
		Schema:     strings.TrimPrefix(ref.Ref, "#/components/schemas/"),
		Properties: map[string]string{},
		Required:   slices.Clone(ref.Value.Required),
		Where:      at + ".properties",
	}
	for name, prop := range ref.Value.Properties {
		kind := ""
		if prop.Value != nil && prop.Value.Type != nil && len(*prop.Value.Type) == 1 {
			kind = (*prop.Value.Type)[0]
		}
		m.Properties[name] = kind
	}
	if len(m.Properties) == 0 {
		return Members{}, fmt.Errorf("%s: no properties", at)
	}
	return m, nil
}

// RequestBody is the application/json request body's schema.
func (s *Spec) RequestBody() (Members, error) {
	inline := s.operationAt() + `.requestBody.content["application/json"].schema`
	if s.op.RequestBody == nil || s.op.RequestBody.Value == nil {
		return Members{}, fmt.Errorf("%s.requestBody is missing", s.operationAt())
	}
	media := s.op.RequestBody.Value.Content.Get("application/json")
	if media == nil {
		return Members{}, fmt.Errorf("%s is missing", inline)
	}
	return members(media.Schema, inline)
}

// defaultResponse is the schema of the default response's body of the given media type.
func (s *Spec) defaultResponse(mediaType string) (Members, error) {
	inline := fmt.Sprintf("%s.responses.default.content[%q].schema", s.operationAt(), mediaType)
	resp := s.op.Responses.Default()
	if resp == nil || resp.Value == nil || resp.Value.Content.Get(mediaType) == nil {
		return Members{}, fmt.Errorf("%s is missing", inline)
	}
	return members(resp.Value.Content.Get(mediaType).Schema, inline)
}

// Problem is the RFC 7807 problem schema of the default application/problem+json response.
func (s *Spec) Problem() (Members, error) { return s.defaultResponse("application/problem+json") }

// LegacyError is the schema of the default application/json response, X's older {code, message} shape.
func (s *Spec) LegacyError() (Members, error) { return s.defaultResponse("application/json") }

// Scopes are the OAuth 2.0 scopes the operation requires, and those its scheme declares.
type Scopes struct {
	Scheme   string   // the oauth2 security scheme's name, e.g. OAuth2UserToken
	Required []string // in the order the spec lists them
	Declared []string // every scope of the scheme's flows, sorted
	Where    string   // of Required
}

// OAuth2Scopes reads the operation's oauth2 security requirement.
func (s *Spec) OAuth2Scopes() (Scopes, error) {
	if s.op.Security == nil {
		return Scopes{}, fmt.Errorf("%s.security is missing", s.operationAt())
	}
	var found []Scopes
	for i, req := range *s.op.Security {
		for name, scopes := range req {
			scheme := s.doc.Components.SecuritySchemes[name]
			if scheme == nil || scheme.Value == nil {
				return Scopes{}, fmt.Errorf("%s.security[%d]: scheme %s is not in components.securitySchemes", s.operationAt(), i, name)
			}
			if scheme.Value.Type != "oauth2" {
				continue
			}
			sc := Scopes{Scheme: name, Required: scopes, Where: fmt.Sprintf("%s.security[%d].%s", s.operationAt(), i, name)}
			if flows := scheme.Value.Flows; flows != nil {
				for _, flow := range []*openapi3.OAuthFlow{flows.Implicit, flows.Password, flows.ClientCredentials, flows.AuthorizationCode} {
					if flow == nil {
						continue
					}
					for scope := range flow.Scopes {
						if !slices.Contains(sc.Declared, scope) {
							sc.Declared = append(sc.Declared, scope)
						}
					}
				}
			}
			sort.Strings(sc.Declared)
			found = append(found, sc)
		}
	}
	if len(found) != 1 {
		return Scopes{}, fmt.Errorf("%s.security: want exactly one oauth2 requirement, found %d", s.operationAt(), len(found))
	}
	return found[0], nil
}

// Server is the spec's first server URL, the API's default base URL.
func (s *Spec) Server() (url, where string, err error) {
	if len(s.doc.Servers) == 0 || s.doc.Servers[0] == nil {
		return "", "", errors.New(File + ": servers is empty")
	}
	return s.doc.Servers[0].URL, File + ": servers[0].url", nil
}
