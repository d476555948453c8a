package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/xchat-go/markread/gen"
)

// canonicalSuccess is the body X sends for a plain success, recognised before any other work.
var canonicalSuccess = []byte(`{"data":{"success":true}}`)

// readResponse reads and closes resp's body and turns the answer into a result or an error, branching on
// the status code first: the content type X sends does not always match its definition. What it returns
// is as X sent it; send redacts it.
func (c *Client) readResponse(resp *http.Response) (*MarkReadResult, error) {
	body, err := readBody(resp, c.maxResponseBytes)
	if err != nil {
		return nil, fmt.Errorf("HTTP %d: reading the response: %w", resp.StatusCode, err)
	}
	ok := resp.StatusCode == http.StatusOK
	if ok && bytes.Equal(body, canonicalSuccess) {
		return &MarkReadResult{Success: true, RateLimit: parseRateLimit(resp.Header), Header: resp.Header}, nil
	}
	apiErr := &APIError{StatusCode: resp.StatusCode, RateLimit: parseRateLimit(resp.Header), Header: resp.Header}
	if ok {
		// data and errors are decoded apart, so that a malformed errors member cannot hide X's confirmation.
		var payload struct {
			Data   *gen.MarkChatConversationReadResponseData `json:"data"`
			Errors json.RawMessage                           `json:"errors"`
		}
		if json.Unmarshal(body, &payload) != nil {
			apiErr.Body = string(body)
			return nil, apiErr
		}
		problems := decodeProblemList(payload.Errors)
		if payload.Data != nil && payload.Data.Success {
			return &MarkReadResult{Success: true, Problems: problems, RateLimit: apiErr.RateLimit, Header: resp.Header}, nil
		}
		apiErr.Problems = problems
		return nil, apiErr
	}
	apiErr.RetryAfter = retryAfter(resp.Header, time.Now())
	if problems, ok := decodeProblems(body); ok {
		apiErr.Problems = problems
	} else {
		apiErr.Body = string(body) // cut to an excerpt once redacted
	}
	return nil, apiErr
}

// readBody reads at most limit bytes of resp's body and closes it. Reading to the end lets the
// connection be reused; a body over the limit is not drained, and its connection is dropped instead.
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	defer func() { _ = resp.Body.Close() }()
	size := int64(512)
	if n := resp.ContentLength; n >= 0 {
		size = min(n, limit) + 1 // one more byte to read the end without growing
	}
	buf := make([]byte, 0, size)
	for {
		n, err := resp.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, fmt.Errorf("%w: more than %d bytes", ErrResponseTooLarge, limit)
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
	}
}

// decodeProblems reads the problems of an error body in any of X's shapes: an RFC 7807 object, an object
// with an "errors" array (beside a top-level problem or not), or {"code", "message"}. It reports false when
// the body holds none of them.
func decodeProblems(body []byte) ([]Problem, bool) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, false
	}
	var top Problem
	if json.Unmarshal(body, &top) != nil {
		return nil, false
	}
	var problems []Problem
	list, hasList := top.Extra["errors"]
	delete(top.Extra, "errors")
	if len(top.Extra) == 0 {
		top.Extra = nil
	}
	if !top.isZero() {
		problems = append(problems, top)
	}
	if hasList {
		problems = append(problems, decodeProblemList(list)...)
	}
	return problems, len(problems) > 0
}

// decodeProblemList decodes an "errors" member leniently: an entry that is not a problem object, or a
// member that is not a list, is kept in a Problem's Extra, so that nothing X said is dropped.
func decodeProblemList(raw json.RawMessage) []Problem {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	var entries []json.RawMessage
	if json.Unmarshal(raw, &entries) != nil {
		return []Problem{{Detail: "an errors member that is not a list", Extra: map[string]json.RawMessage{"errors": raw}}}
	}
	// Decoded, a small entry takes a hundred times its bytes: beyond maxProblems, the rest stay as sent.
	const maxProblems = 100
	problems := make([]Problem, 0, min(len(entries), maxProblems+1))
	for i, entry := range entries {
		if i == maxProblems {
			rest, _ := json.Marshal(entries[i:])
			problems = append(problems, Problem{Detail: fmt.Sprintf("%d more error entries, kept as sent", len(entries)-i),
				Extra: map[string]json.RawMessage{"entries": rest}})
			break
		}
		var p Problem
		if json.Unmarshal(entry, &p) != nil {
			p = Problem{Detail: "an error entry that is not an object", Extra: map[string]json.RawMessage{"entry": entry}}
		}
		problems = append(problems, p)
	}
	return problems
}
