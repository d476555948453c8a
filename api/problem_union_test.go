package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/xchat-go/markread/api"
)

// Problems of the kinds X's 2.170 added to its Problem union (hand-written in their shape, not copied from
// X's file): one more api.x.com type, and an api.twitter.com type with no status and a details array
// instead of detail. The lenient Problem must keep them as data, every member included.
const (
	recipientNotMessageable = `{"type":"https://api.x.com/2/problems/recipient-not-messageable","title":"Recipient not messageable","detail":"The recipient does not accept messages from you.","status":403}`
	invalidRules            = `{"type":"https://api.twitter.com/2/problems/invalid-rules","title":"Invalid rules","details":["rule 1: unknown operator","rule 2: too long"],"value":"from:x OR"}`
)

// answer serves one response to every request, on a loopback server the test owns.
func answer(t *testing.T, status int, contentType, body string) *api.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	c, err := api.NewClient(api.WithBaseURL(srv.URL), api.WithToken("test-token"), api.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sameJSON fails unless got, encoded again, is the JSON object sent: nothing dropped, nothing added.
func sameJSON(t *testing.T, got api.Problem, sent string) {
	t.Helper()
	encoded, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	if err := errors.Join(json.Unmarshal(encoded, &a), json.Unmarshal([]byte(sent), &b)); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("problem kept as\n %s\nwant what was sent\n %s", encoded, sent)
	}
}

func checkInvalidRules(t *testing.T, p api.Problem) {
	t.Helper()
	if p.Type != "https://api.twitter.com/2/problems/invalid-rules" || p.Title != "Invalid rules" || p.Status != 0 ||
		p.Detail != "" || p.Value != "from:x OR" {
		t.Errorf("typed members: %+v", p)
	}
	var details []string
	if err := json.Unmarshal(p.Extra["details"], &details); err != nil || len(details) != 2 || details[1] != "rule 2: too long" {
		t.Errorf("Extra[\"details\"] = %s (%v), want the two details sent", p.Extra["details"], err)
	}
	sameJSON(t, p, invalidRules)
}

// The default answer: a problem+json body of the new api.twitter.com kind.
func TestProblemUnion2170AsAnError(t *testing.T) {
	c := answer(t, http.StatusBadRequest, "application/problem+json", invalidRules)
	_, err := c.MarkConversationRead(context.Background(), "g1940387460021112832", "1940387460021112833")
	var apiErr *api.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("got %v, want an *api.APIError", err)
	}
	if apiErr.StatusCode != http.StatusBadRequest || len(apiErr.Problems) != 1 {
		t.Fatalf("status %d, %d problems; want 400 and the one sent", apiErr.StatusCode, len(apiErr.Problems))
	}
	checkInvalidRules(t, apiErr.Problems[0])
}

// A 200 answer's errors, beside data (a partial success): both new kinds, in the order sent.
func TestProblemUnion2170BesideSuccess(t *testing.T) {
	body := `{"data":{"success":true},"errors":[` + recipientNotMessageable + `,` + invalidRules + `]}`
	c := answer(t, http.StatusOK, "application/json", body)
	res, err := c.MarkConversationRead(context.Background(), "1587411342381740032", "1940387460021112833")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Success || len(res.Problems) != 2 {
		t.Fatalf("success %v, %d problems; want true and the two sent", res.Success, len(res.Problems))
	}
	if p := res.Problems[0]; p.Type != "https://api.x.com/2/problems/recipient-not-messageable" || p.Status != 403 || p.Detail == "" {
		t.Errorf("recipient-not-messageable: %+v", p)
	}
	sameJSON(t, res.Problems[0], recipientNotMessageable)
	checkInvalidRules(t, res.Problems[1])
}
