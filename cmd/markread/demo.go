package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xchat-go/markread/api"
	"github.com/xchat-go/markread/api/apitest"
	"github.com/xchat-go/markread/internal/plural"
)

// The demo's input: a 1:1 conversation in the "a:b" form X Chat events carry, and a message's sequence ID.
const (
	demoConversation = "783214:1587411342381740032"
	demoSequenceID   = "1940387512345678901"
)

// exchange is one request and its answer as they crossed the wire.
type exchange struct {
	method, path string
	reqHeader    http.Header
	reqBody      []byte
	status       string
	respHeader   http.Header
	respBody     []byte
}

// recorder is an http.RoundTripper that keeps a copy of what the client sent and got, so that the demo
// shows the real request the api package built rather than a description of it.
type recorder struct {
	next      http.RoundTripper
	mu        sync.Mutex
	exchanges []exchange
}

func (rec *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	ex := exchange{method: req.Method, path: req.URL.Path, reqHeader: req.Header.Clone()}
	if req.GetBody != nil {
		if body, err := req.GetBody(); err == nil {
			ex.reqBody, _ = io.ReadAll(body)
			_ = body.Close()
		}
	}
	resp, err := rec.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	ex.status, ex.respHeader = resp.Status, resp.Header.Clone()
	ex.respBody, err = io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(ex.respBody))
	rec.mu.Lock()
	rec.exchanges = append(rec.exchanges, ex)
	rec.mu.Unlock()
	return resp, nil
}

const demoUsage = `usage: markread demo

Marks a conversation read through the real client against a built-in fake X API, and shows what was
sent, what came back and what the server recorded. No token needed.
`

func runDemo(ctx context.Context, args []string, stdout io.Writer) error {
	if help, err := parseFlags(newFlags("markread demo"), args, demoUsage, stdout, true); help || err != nil {
		return err
	}

	srv := apitest.NewServer()
	defer srv.Close()
	rec := &recorder{next: http.DefaultTransport}
	client, err := api.NewClient(
		api.WithBaseURL(srv.URL),
		api.WithToken(apitest.DefaultToken),
		api.WithHTTPClient(&http.Client{Transport: rec, Timeout: 10 * time.Second}),
	)
	if err != nil {
		return err
	}
	id, err := api.NormalizeConversationID(demoConversation)
	if err != nil {
		return err
	}
	res, err := client.MarkConversationRead(ctx, id, demoSequenceID)
	if err != nil {
		return err
	}
	seq, ok := srv.ReadState(apitest.DefaultToken, id)
	if !ok || len(rec.exchanges) == 0 {
		return failf(exitFailure, "demo: the fake server recorded no mark")
	}

	w := &strings.Builder{}
	fmt.Fprintf(w, "markread demo: the real client against a fake X API at %s\n", srv.URL)
	fmt.Fprintf(w, "Conversation %s (an X Chat event's a:b form) is sent as %s.\n", demoConversation, id)
	ex := rec.exchanges[len(rec.exchanges)-1]
	fmt.Fprintf(w, "\nSent:\n  %s %s\n", ex.method, ex.path)
	scheme, _, _ := strings.Cut(ex.reqHeader.Get("Authorization"), " ") // the credential is not shown
	fmt.Fprintf(w, "  Authorization: %s [redacted]\n", scheme)
	fmt.Fprintf(w, "  Content-Type: %s\n", ex.reqHeader.Get("Content-Type"))
	fmt.Fprintf(w, "  %s\n", bytes.TrimSpace(ex.reqBody))
	fmt.Fprintf(w, "\nReceived:\n  %s\n", ex.status)
	for _, name := range []string{"x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset"} {
		value := ex.respHeader.Get(name)
		if name == "x-rate-limit-reset" {
			if sec, err := strconv.ParseInt(value, 10, 64); err == nil {
				value += " (" + time.Unix(sec, 0).UTC().Format(time.RFC3339) + ")"
			}
		}
		fmt.Fprintf(w, "  %s: %s\n", name, value)
	}
	fmt.Fprintf(w, "  %s\n", bytes.TrimSpace(ex.respBody))
	fmt.Fprintf(w, "\nServer state:\n  %s is read up to sequence ID %s (%d mark applied)\n", id, seq, len(srv.Marks()))
	fmt.Fprintf(w, "\nMarked read in %s. For real: X_ACCESS_TOKEN=... markread <conversation-id> <seen-until-sequence-id>\n", plural.Count(res.Attempts, "attempt"))
	fmt.Fprint(stdout, w.String())
	return nil
}
