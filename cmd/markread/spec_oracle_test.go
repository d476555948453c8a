package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/xchat-go/markread/api/apitest"
	"github.com/xchat-go/markread/internal/specoracle"
)

// What the command tells a person about scopes and the base URL follows spec/openapi.yaml by design;
// these tests name the spec's member when the two part.

func checkScopes(t *testing.T, what, text string) {
	t.Helper()
	mismatches, err := specoracle.ForTest(t).ScopeMismatches(text)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mismatches {
		t.Errorf("%s %s", what, m)
	}
}

func TestHelpNamesTheSpecsScopes(t *testing.T) {
	checkScopes(t, "markread --help (usageText, cmd/markread/main.go)", usageText)
	checkScopes(t, "the missing-token help (noTokenHints, cmd/markread/mark.go)", noTokenHints)
	checkScopes(t, "markread login --help (loginUsage, cmd/markread/login.go)", loginUsage)
	checkScopes(t, "the scopes markread login asks for (loginScopes, cmd/markread/credentials.go)", strings.Join(loginScopes, " "))
}

func TestRefusedTokenMessageNamesTheSpecsScopes(t *testing.T) {
	srv := apitest.NewServer(apitest.WithTokens("another-token"))
	defer srv.Close()
	env := map[string]string{"X_ACCESS_TOKEN": apitest.DefaultToken, "X_API_BASE_URL": srv.URL}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"g1", "5"}, func(k string) string { return env[k] }, &stdout, &stderr); code != exitAuth {
		t.Fatalf("exit %d, want %d; stderr %q", code, exitAuth, stderr.String())
	}
	checkScopes(t, "the refused-token error (cmd/markread/mark.go)", stderr.String())
}

func TestHelpNamesTheSpecsServer(t *testing.T) {
	url, where, err := specoracle.ForTest(t).Server()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(usageText, "else "+url+")") {
		t.Errorf("markread --help (usageText, cmd/markread/main.go) does not give %s, %s, as the --base-url default", url, where)
	}
}
