package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xchat-go/markread/internal/textsafe"
	"golang.org/x/oauth2"
)

// everyVerb prints v with every fmt verb a careless log line might use.
func everyVerb(v any) string {
	var b strings.Builder
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
		fmt.Fprintf(&b, verb+"\n", v)
	}
	return b.String()
}

// leaks reports whether text shows token in any form a reader could recover without effort: as is,
// hex-encoded (what %x of a string prints), or JSON-escaped.
func leaks(text, token string) bool {
	return strings.Contains(text, token) ||
		strings.Contains(strings.ToLower(text), fmt.Sprintf("%x", token)) ||
		strings.Contains(text, escapeJSON(token))
}

// nested is a problem member a hostile server fills with the token at every depth, keys included, in
// JSON-escaped form.
func nested(token string) string {
	e := escapeJSON(token)
	return `{"` + e + `":["` + e + `",{"deep":{"deeper":["x","` + e + `"]}}],"n":1}`
}

func TestPartialSuccessProblemsAreRedacted(t *testing.T) {
	e := escapeJSON(testToken)
	body := `{"data":{"success":true},"errors":[{"type":"about:blank","title":"t","detail":"echo ` + e +
		`","object":` + nested(testToken) + `,"array":["` + e + `"],"` + e + `":true},"` + e + `"]}`
	c := setup(t, reply(200, "application/json", body))
	res, err := c.MarkConversationRead(context.Background(), "1", "2")
	if err != nil || !res.Success || len(res.Problems) != 2 {
		t.Fatalf("got %+v, %v; want a partial success with 2 problems", res, err)
	}
	encoded, _ := json.Marshal(res.Problems)
	text := everyVerb(res) + everyVerb(res.Problems) + string(encoded)
	if leaks(text, testToken) {
		t.Error("the partial success's problems carry the access token")
	}
	if !strings.Contains(res.Problems[0].Detail, textsafe.Redacted) || !strings.Contains(string(res.Problems[0].Extra["object"]), textsafe.Redacted) {
		t.Errorf("problem = %+v; want the token replaced by %s, the rest kept", res.Problems[0], textsafe.Redacted)
	}
}

func TestFailureProblemsAreRedactedAtAnyDepth(t *testing.T) {
	body := `{"type":"about:blank","title":"Forbidden","status":403,"reason":` + nested(testToken) +
		`,"errors":[{"message":"m","list":[[["` + escapeJSON(testToken) + `"]]]}]}`
	c := setup(t, reply(403, "application/problem+json", body), WithMaxRetries(0))
	_, err := c.MarkConversationRead(context.Background(), "1", "2")
	var apiErr *APIError
	if !errors.As(err, &apiErr) || len(apiErr.Problems) != 2 {
		t.Fatalf("err = %v; want an *APIError with 2 problems", err)
	}
	encoded, _ := json.Marshal(apiErr.Problems)
	if text := everyVerb(err) + everyVerb(apiErr) + everyVerb(*apiErr) + string(encoded); leaks(text, testToken) {
		t.Error("the error or its problems carry the access token")
	}
}

func TestEchoedHeaderValuesAreRedacted(t *testing.T) {
	c := setup(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Echo", r.Header.Get("Authorization"))
		reply(200, "application/json", successBody)(w, r)
	})
	res, err := c.MarkConversationRead(context.Background(), "1", "2")
	if err != nil {
		t.Fatal(err)
	}
	if leaks(everyVerb(res.Header)+everyVerb(res), testToken) {
		t.Error("the result's header carries the access token")
	}
	if got := res.Header.Get("X-Echo"); got != "Bearer "+textsafe.Redacted {
		t.Errorf("X-Echo = %q, want the token replaced", got)
	}
}

// TestFormattingAClientNeverShowsTheToken: whatever the verb, a Client, a *Client, and structs holding
// either (in exported and unexported fields) print without the token.
func TestFormattingAClientNeverShowsTheToken(t *testing.T) {
	for name, opt := range map[string]Option{
		"static token": WithToken(testToken),
		"token source": WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: testToken})),
	} {
		t.Run(name, func(t *testing.T) {
			c, err := NewClient(opt)
			if err != nil {
				t.Fatal(err)
			}
			type exported struct{ C Client }
			type unexported struct{ c Client }
			type pointers struct {
				c *Client
				C *Client
			}
			for what, v := range map[string]any{
				"Client": *c, "*Client": c, "exported field": exported{*c}, "unexported field": unexported{*c},
				"pointer to holder": &unexported{*c}, "pointer fields": pointers{c, c}, "option": opt,
			} {
				if leaks(everyVerb(v), testToken) {
					t.Errorf("%s: a fmt verb prints the token", what)
				}
			}
		})
	}
}

// oddTypeSource hands out a token whose type holds a space: what is redacted must be the token itself.
type oddTypeSource struct{}

func (oddTypeSource) Token() (*oauth2.Token, error) {
	return &oauth2.Token{AccessToken: testToken, TokenType: "Bearer extra"}, nil
}

func TestTheTokenIsRedactedWhateverItsType(t *testing.T) {
	c := setup(t, func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Authorization"); got != "Bearer "+testToken {
			t.Errorf("Authorization is not the bearer token")
		}
		reply(401, "application/problem+json", `{"type":"about:blank","title":"Unauthorized","detail":"`+r.Header.Get("Authorization")+`"}`)(w, r)
	}, WithTokenSource(oddTypeSource{}))
	_, err := c.MarkConversationRead(context.Background(), "1", "2")
	if err == nil || leaks(everyVerb(err), testToken) {
		t.Errorf("err = %v; want a 401 without the token", err)
	}
}

// escapeJSON writes every byte of s as a \u00XX escape: the same text once decoded, other bytes on the wire.
func escapeJSON(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, `\u%04x`, s[i])
	}
	return b.String()
}

func TestJSONEscapedTokenEchoIsRedacted(t *testing.T) {
	body := `{"type":"about:blank","title":"Unauthorized","detail":"token ` + escapeJSON(testToken) +
		`","echo":"` + escapeJSON(testToken) + `","errors":[{"message":"` + escapeJSON(testToken) + `"}]}`
	c := setup(t, reply(401, "application/problem+json", body), WithMaxRetries(0))
	_, err := c.MarkConversationRead(context.Background(), "1", "2")
	var apiErr *APIError
	if !errors.As(err, &apiErr) || len(apiErr.Problems) != 2 {
		t.Fatalf("err = %v, want an *APIError with 2 problems", err)
	}
	text := fmt.Sprintf("%v %+v %#v %+v", err, err, err, apiErr.Problems)
	for _, p := range apiErr.Problems {
		for _, raw := range p.Extra {
			text += string(raw)
		}
	}
	if strings.Contains(text, testToken) {
		t.Error("the error or its problems carry the access token")
	}
	if !strings.Contains(apiErr.Problems[0].Detail, textsafe.Redacted) {
		t.Errorf("Detail = %q, want the token replaced by %s", apiErr.Problems[0].Detail, textsafe.Redacted)
	}
}

// TestTokenInAStatusLineIsRedacted: a raw server answers with the request's token as its status line,
// which net/http quotes in its error; neither the error nor the retry log may carry it.
func TestTokenInAStatusLineIsRedacted(t *testing.T) {
	addr := rawServer(t, func(token string) string {
		return "HTTP/1.1 " + token + " OK\r\nContent-Length: 0\r\n\r\n"
	})
	var logs bytes.Buffer
	c, err := NewClient(WithBaseURL(addr), WithToken(testToken), WithMaxRetries(1),
		WithBackoff(time.Millisecond, time.Millisecond), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.MarkConversationRead(context.Background(), "1", "2")
	if err == nil {
		t.Fatal("want an error for a malformed status line")
	}
	if text := fmt.Sprintf("%v %+v %#v", err, err, err) + logs.String(); strings.Contains(text, testToken) {
		t.Error("the error or the log carries the access token")
	}
	if !strings.Contains(err.Error(), textsafe.Redacted) || !strings.Contains(err.Error(), "after 2 attempts") {
		t.Errorf("err = %v, want the redacted status line and the attempt count", err)
	}
}

// An exact echo is replaced wherever it stands: at the excerpt's cut, among invalid UTF-8, in problem
// keys at any depth, in header values.
func TestEchoesAnywhereAreRedacted(t *testing.T) {
	for name, body := range map[string]string{
		"raw at cut":          strings.Repeat("a", 190) + testToken + strings.Repeat("b", 300),
		"escaped at cut":      strings.Repeat("a", 190) + escapeJSON(testToken) + strings.Repeat("b", 300),
		"invalid utf8 around": "\xff\xfe" + testToken + "\xc3",
		"key":                 `{"type":"about:blank","title":"x","` + escapeJSON(testToken) + `":{"` + escapeJSON(testToken) + `":1}}`,
		"errors in success":   `{"data":{"success":true},"errors":[{"` + escapeJSON(testToken) + `":[["` + escapeJSON(testToken) + `"]]}]}`,
	} {
		for _, status := range []int{200, 400, 502} {
			c := setup(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Echo", testToken)
				reply(status, "application/json", body)(w, r)
			}, WithMaxRetries(0))
			res, err := c.MarkConversationRead(context.Background(), "1", "2")
			text := everyVerb(err) + everyVerb(res)
			if res != nil {
				b, _ := json.Marshal(res.Problems)
				text += string(b) + fmt.Sprint(res.Header)
			}
			var apiErr *APIError
			if errors.As(err, &apiErr) {
				b, _ := json.Marshal(apiErr.Problems)
				text += string(b) + fmt.Sprint(apiErr.Header) + apiErr.Body
			}
			if leaks(text, testToken) {
				t.Errorf("%s %d: leaks", name, status)
			}
		}
	}
}

// TestAnyTokenLeavesASuccessASuccess: redaction comes after parsing, so a token that is part of X's
// answer ("t", "true", "900") neither turns a success into an error nor loses a rate-limit figure.
func TestAnyTokenLeavesASuccessASuccess(t *testing.T) {
	for _, token := range []string{"t", "a", "s", "true", "data", "ucc", "1", "9", "900", "899"} {
		c := setup(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Rate-Limit-Limit", "900")
			w.Header().Set("X-Rate-Limit-Remaining", "899")
			w.Header().Set("X-Rate-Limit-Reset", "1900000000")
			reply(200, "application/json", successBody)(w, r)
		}, WithToken(token))
		res, err := c.MarkConversationRead(context.Background(), "1", "2")
		if err != nil || !res.Success {
			t.Errorf("token %q: got %v; want a success", token, err)
			continue
		}
		if rl := res.RateLimit; rl.Limit != 900 || rl.Remaining != 899 || rl.Reset.Unix() != 1900000000 {
			t.Errorf("token %q: rate limit %+v; want 900, 899, 1900000000", token, rl)
		}
		if got := res.Header.Get("X-Rate-Limit-Limit"); token == "900" && got != textsafe.Redacted {
			t.Errorf("token %q: the header value that equals it reads %q; want it replaced", token, got)
		}
	}
}

// A duplicate key hides a value from a decoded map; every string token is read, so its echo is replaced.
func TestDuplicateKeysCannotHideAnEcho(t *testing.T) {
	for _, body := range []string{
		`{"detail":"d","foo":{"a":"` + testToken + `","a":"x"}}`,
		`{"detail":"d","foo":{"a":"` + escapeJSON(testToken) + `","a":1}}`,
		`{"detail":"d","errors":[{"a":"` + testToken + `","a":1}]}`,
	} {
		c := setup(t, reply(400, "application/problem+json", body), WithMaxRetries(0))
		_, err := c.MarkConversationRead(context.Background(), "1", "2")
		var apiErr *APIError
		if !errors.As(err, &apiErr) {
			t.Fatalf("err = %v", err)
		}
		encoded, _ := json.Marshal(apiErr.Problems)
		if leaks(string(encoded)+everyVerb(apiErr.Problems), testToken) {
			t.Errorf("%s: the problems carry the token", body)
		}
	}
}

// Redaction is one pass: a token that is part of "[REDACTED]" does not redact the replacement again.
func TestRedactionIsOnePass(t *testing.T) {
	members := make([]string, 20)
	for i := range members {
		members[i] = fmt.Sprintf(`"kE%d":"vE"`, i)
	}
	c := setup(t, reply(400, "application/problem+json", `{"title":"t",`+strings.Join(members, ",")+`}`),
		WithToken("E"), WithMaxRetries(0))
	_, err := c.MarkConversationRead(context.Background(), "1", "2")
	var apiErr *APIError
	if !errors.As(err, &apiErr) || len(apiErr.Problems) != 1 {
		t.Fatalf("err = %v", err)
	}
	for name, raw := range apiErr.Problems[0].Extra {
		if !strings.HasPrefix(name, "k"+textsafe.Redacted) || len(name) > len("k"+textsafe.Redacted)+2 || string(raw) != `"v`+textsafe.Redacted+`"` {
			t.Errorf("member %q: %s; want k%s<n>: \"v%s\"", name, raw, textsafe.Redacted, textsafe.Redacted)
		}
	}
}

func TestSecretsStayOut(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	fs := newFaultServer(t, func(n int, w http.ResponseWriter, r *http.Request) bool {
		// A hostile server that echoes the request's Authorization header.
		echo := r.Header.Get("Authorization")
		if n == 1 {
			w.Header().Set("x-rate-limit-reset", strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10))
			reply(429, "application/json", `{"errors":[{"code":88,"message":"limit for `+echo+`"}]}`)(w, r)
			return true
		}
		reply(401, "text/html", "<p>bad token "+echo+"</p>")(w, r)
		return true
	})
	opt := WithToken(testToken)
	c := fs.client(t, opt, WithLogger(logger))
	_, err := c.MarkConversationRead(context.Background(), "1", "2")
	if err == nil {
		t.Fatal("want an error")
	}
	var apiErr *APIError
	errors.As(err, &apiErr)
	for what, text := range map[string]string{
		"error %v":       fmt.Sprintf("%v", err),
		"error %+v":      fmt.Sprintf("%+v", err),
		"error %#v":      fmt.Sprintf("%#v", err),
		"APIError %#v":   fmt.Sprintf("%#v", apiErr),
		"client %v":      fmt.Sprintf("%v", c),
		"client %+v":     fmt.Sprintf("%+v", c),
		"client %#v":     fmt.Sprintf("%#v", c),
		"client deref":   fmt.Sprintf("%v %+v", *c, *c),
		"option %v %#v":  fmt.Sprintf("%v %#v", opt, opt),
		"log":            logs.String(),
		"problems %+v":   fmt.Sprintf("%+v", apiErr.Problems),
		"redacted proof": apiErr.Body,
	} {
		if strings.Contains(text, testToken) {
			t.Errorf("%s contains the access token", what)
		}
	}
	if !strings.Contains(apiErr.Body, "[REDACTED]") {
		t.Errorf("Body = %q, want the echoed token replaced by [REDACTED]", apiErr.Body)
	}
	if !strings.Contains(logs.String(), "attempt=1") || !strings.Contains(logs.String(), "status=429") {
		t.Errorf("log = %q, want the retry's attempt and status", logs.String())
	}
}

// A server that sends a token with its first letter turned into a control character gets it back from
// no escaping: the one-line form of what it sent is redacted too.
func TestEscapingCannotSpellTheToken(t *testing.T) {
	const token = "nSECRET0123"
	c := setup(t, reply(400, "application/problem+json", `{"detail":"\nSECRET0123","errors":[{"message":"\tSECRET0123"}]}`),
		WithToken(token), WithMaxRetries(0))
	_, err := c.MarkConversationRead(context.Background(), "1", "2")
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(everyVerb(err), token) {
		t.Errorf("the error spells the token: %v", err)
	}
}
