package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

func TestQuickStartMarksRead(t *testing.T) {
	var gotPath, gotBody string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath = r.URL.Path
		body, _ := io.ReadAll(r.Body)
		gotBody = string(body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("x-rate-limit-remaining", "41")
		_, _ = io.WriteString(w, `{"data":{"success":true}}`)
	}))
	defer srv.Close()
	t.Setenv("X_ACCESS_TOKEN", "quickstart-token")
	t.Setenv("X_API_BASE_URL", srv.URL)
	oldArgs, oldStdout := os.Args, os.Stdout
	defer func() { os.Args, os.Stdout = oldArgs, oldStdout }()
	os.Args = []string{"quickstart", "g1940387460021112832", "1940387512345678901"}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout = w
	main()
	_ = w.Close()
	out, _ := io.ReadAll(r)
	if got := strings.TrimSpace(string(out)); got != "marked read; 41 calls left in this window" {
		t.Errorf("output = %q", got)
	}
	if gotPath != "/2/chat/conversations/g1940387460021112832/read" || gotBody != `{"seen_until_sequence_id":"1940387512345678901"}` {
		t.Errorf("server saw %s %s", gotPath, gotBody)
	}
}
