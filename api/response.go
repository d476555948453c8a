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

// readResponse reads and closes resp's body and turns the answer into a result or an error, branching on
// the status code first: the content type X sends does not always match its definition. Everything that
// can reach the caller is scrubbed of the request's secrets first.
func (c *Client) readResponse(resp *http.Response, scrub scrubber) (*MarkReadResult, error) {
	body, err := readBody(resp.Body, c.maxResponseBytes)
	if err != nil {
		if err == errTooLarge {
			return nil, errNotRetryable{fmt.Errorf("%w: more than %d bytes (HTTP %d)", ErrResponseTooLarge, c.maxResponseBytes, resp.StatusCode)}
		}
		return nil, fmt.Errorf("HTTP %d: reading the response: %w", resp.StatusCode, err)
	}
	body = scrub.bytes(body)
	header := scrub.header(resp.Header)
	rl := parseRateLimit(header)

	if resp.StatusCode == http.StatusOK {
		if bytes.Equal(body, canonicalSuccess) {
			// X's usual answer, without a decode: it saves 8 of the 53 allocations of a call, which keeps the
			// client cheaper per call than the generated client alone (BENCHMARKS.md, "Per call without a
			// network").
			return &MarkReadResult{Success: true, RateLimit: rl, Header: header}, nil
		}
		// data and errors are decoded apart, so that a malformed errors member cannot hide X's confirmation.
		var payload struct {
			Data   *gen.MarkChatConversationReadResponseData `json:"data"`
			Errors json.RawMessage                           `json:"errors"`
		}
		if json.Unmarshal(body, &payload) != nil {
			return nil, &APIError{StatusCode: resp.StatusCode, Body: excerpt(body, scrub), RateLimit: rl, Header: header}
		}
		problems := decodeProblemList(payload.Errors, scrub)
		if payload.Data != nil && payload.Data.Success {
			return &MarkReadResult{Success: true, Problems: problems, RateLimit: rl, Header: header}, nil
		}
		return nil, &APIError{StatusCode: resp.StatusCode, Problems: problems, RateLimit: rl, Header: header}
	}

	apiErr := &APIError{
		StatusCode: resp.StatusCode,
		RateLimit:  rl,
		RetryAfter: retryAfter(header, time.Now()),
		Header:     header,
	}
	if problems, ok := decodeProblems(body, scrub); ok {
		apiErr.Problems = problems
	} else {
		apiErr.Body = excerpt(body, scrub)
	}
	return nil, apiErr
}

// canonicalSuccess is the body X sends for a plain success.
var canonicalSuccess = []byte(`{"data":{"success":true}}`)

// errTooLarge is readBody's report of a body over its limit.
var errTooLarge = fmt.Errorf("%w", ErrResponseTooLarge)

// readBody reads at most limit bytes and closes the body. Reading to the end lets the connection be
// reused; a body over the limit is not drained, and its connection is dropped instead.
func readBody(body io.ReadCloser, limit int64) ([]byte, error) {
	defer func() { _ = body.Close() }()
	data, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, errTooLarge
	}
	return data, nil
}

// decodeProblems reads the problems of an error body in any of X's shapes: an RFC 7807 object, an object
// with an "errors" array (beside a top-level problem or not), or {"code", "message"}. It reports false when
// the body holds none of them. The problems come back scrubbed of the request's secrets.
func decodeProblems(body []byte, scrub scrubber) ([]Problem, bool) {
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
		scrub.problem(&top)
		problems = append(problems, top)
	}
	if hasList {
		problems = append(problems, decodeProblemList(list, scrub)...)
	}
	return problems, len(problems) > 0
}

// decodeProblemList decodes an "errors" member leniently: an entry that is not a problem object, or a
// member that is not a list, becomes a Problem whose Detail quotes it, so that nothing X said is dropped.
// The problems come back scrubbed of the request's secrets.
func decodeProblemList(raw json.RawMessage, scrub scrubber) []Problem {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	var entries []json.RawMessage
	if json.Unmarshal(raw, &entries) != nil {
		return []Problem{{Detail: "undecodable errors member: " + excerpt(raw, scrub)}}
	}
	problems := make([]Problem, 0, len(entries))
	for _, entry := range entries {
		var p Problem
		if json.Unmarshal(entry, &p) != nil {
			p = Problem{Detail: "undecodable error entry: " + excerpt(entry, scrub)}
		}
		scrub.problem(&p)
		problems = append(problems, p)
	}
	return problems
}
