package apitest

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/xchat-go/markread/gen"
	"github.com/xchat-go/markread/internal/specoracle"
)

// The fake follows spec/openapi.yaml by design in a few places the validator does not cover: the path
// parameter it reads, the body member it refuses empty, the problem members it writes. These tests name
// the spec's member when the fake and the spec part. Requests are built by gen, so a renamed member or
// type stops them from compiling.

// markWithGen sends one mark built by the generated request builder to h, in process.
func markWithGen(t *testing.T, h *Handler, id string, body gen.MarkChatConversationReadJSONRequestBody) *http.Response {
	t.Helper()
	req, err := gen.NewMarkChatConversationReadRequest("http://127.0.0.1/", id, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+DefaultToken)
	resp, err := h.Transport().RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

// The conversation ID a mark records is the operation's path parameter, whatever the spec names it.
func TestMarkRecordsTheSpecsPathParameter(t *testing.T) {
	param, err := specoracle.ForTest(t).ConversationIDPattern()
	if err != nil {
		t.Fatal(err)
	}
	h := NewHandler()
	resp := markWithGen(t, h, "g1940387460021112832", gen.MarkChatConversationReadJSONRequestBody{SeenUntilSequenceID: "7"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a valid mark got %s", resp.Status)
	}
	if marks := h.Marks(); len(marks) != 1 || marks[0].ConversationID != "g1940387460021112832" {
		t.Errorf("Marks() = %+v, want one mark of g1940387460021112832: the spec names the path parameter %q (%s); read that one in ServeHTTP (api/apitest/server.go)",
			marks, param.Parameter, strings.TrimSuffix(param.Where, ".schema.pattern"))
	}
}

// The fake refuses an empty seen-until sequence ID with a problem that names the member as the spec does.
func TestEmptySequenceIDProblemNamesTheSpecsMember(t *testing.T) {
	body, err := specoracle.ForTest(t).RequestBody()
	if err != nil {
		t.Fatal(err)
	}
	if len(body.Required) != 1 || body.Properties[body.Required[0]] != "string" {
		t.Fatalf("%s: the fake knows one required string body member, the seen-until sequence ID; the spec requires %v",
			strings.TrimSuffix(body.Where, ".properties")+".required", body.Required)
	}
	member := body.Required[0]
	resp := markWithGen(t, NewHandler(), "1", gen.MarkChatConversationReadJSONRequestBody{SeenUntilSequenceID: ""})
	var p problem
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatalf("%s: decoding the problem: %v", resp.Status, err)
	}
	if resp.StatusCode != http.StatusBadRequest || p.Parameter != member || !strings.Contains(p.Detail, "`"+member+"`") {
		t.Errorf("an empty %s got %s %+v; want 400 whose parameter and detail name %q, as %s.required does (api/apitest/server.go)",
			member, resp.Status, p, member, strings.TrimSuffix(body.Where, ".properties"))
	}
}

// Every member the fake writes into a problem is a property of the spec's Problem schema.
func TestProblemMembersAreTheSpecsProperties(t *testing.T) {
	want, err := specoracle.ForTest(t).Problem()
	if err != nil {
		t.Fatal(err)
	}
	typ := reflect.TypeFor[problem]()
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		if _, ok := want.Properties[name]; !ok {
			t.Errorf("apitest's problem.%s (json %q, api/apitest/respond.go) is not in %s %v", typ.Field(i).Name, name, want.Where, want.Names())
		}
	}
}

// Every scope the spec declares, and so every scope a client built from it asks for, is one the fake's
// authorize endpoint grants.
func TestTheSpecsScopesAreXsScopes(t *testing.T) {
	scopes, err := specoracle.ForTest(t).OAuth2Scopes()
	if err != nil {
		t.Fatal(err)
	}
	for _, scope := range append(slices.Clone(scopes.Declared), scopes.Required...) {
		if !slices.Contains(xScopes, scope) {
			t.Errorf("%s (%s) names the scope %s, which apitest's xScopes (api/apitest/oauth.go) do not have: the fake refuses it with invalid_scope",
				specoracle.File, scopes.Scheme, scope)
		}
	}
	if len(scopes.Declared) == 0 {
		t.Errorf("%s declares no scopes for %s: nothing to check", specoracle.File, scopes.Scheme)
	}
}
