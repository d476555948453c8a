package specoracle

import (
	"os/exec"
	"strings"
	"testing"
)

// A program that imports only package api must not build an OpenAPI library, a YAML parser or a developer
// tool: the spec is checked by tests, not at run time.
func TestAPIBuildLeavesTheSpecToolsOut(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command("go", "list", "-deps", "github.com/xchat-go/markread/api").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, banned := range []string{
			"github.com/xchat-go/markread/internal/specoracle",
			"github.com/getkin/kin-openapi",
			"github.com/oapi-codegen/oapi-codegen", // the generator; its runtime is fine
			"github.com/oasdiff/",
			"golang.org/x/exp/",
			"golang.org/x/tools/",
			"yaml",
		} {
			if strings.Contains(pkg, banned) {
				t.Errorf("package api builds %s", pkg)
			}
		}
	}
}

func TestLoadFindsTheOperation(t *testing.T) {
	s := ForTest(t)
	p, err := s.ConversationIDPattern()
	if err != nil {
		t.Fatal(err)
	}
	if p.Parameter != "id" || !strings.HasPrefix(p.Where, File+`: paths["/2/chat/conversations/{id}/read"].post.parameters[0]`) {
		t.Errorf("pattern %+v", p)
	}
	if _, err := p.Regexp(); err != nil {
		t.Error(err)
	}
	body, err := s.RequestBody()
	if err != nil || body.Schema != "MarkChatConversationReadRequest" || body.Where != File+": components.schemas.MarkChatConversationReadRequest.properties" {
		t.Errorf("request body %+v, %v", body, err)
	}
}
