package apitest

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// problem is an RFC 7807 problem object as X sends it. Its members follow the spec's Problem schema by
// design (the fake must not share the client's types); TestProblemMembersAreTheSpecsProperties checks them.
type problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Detail    string `json:"detail,omitempty"`
	Status    int    `json:"status,omitempty"`
	Parameter string `json:"parameter,omitempty"`
	Value     string `json:"value,omitempty"`
}

// aboutBlank is X's problem for failures that have no type of their own, e.g. its 401:
// {"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}.
func aboutBlank(status int, detail string) problem {
	return problem{Type: "about:blank", Title: http.StatusText(status), Detail: detail, Status: status}
}

var successBody = json.RawMessage(`{"data":{"success":true}}`)

// legacyRateLimitBody is the 429 body X documents.
var legacyRateLimitBody = json.RawMessage(`{"errors":[{"code":88,"message":"Rate limit exceeded"}]}`)

// writeJSON sends an answer with the rate-limit headers that every X response carries.
func (h *Handler) writeJSON(w http.ResponseWriter, rl RateLimitState, status int, contentType string, body any) {
	data, err := json.Marshal(body)
	if err != nil {
		// Only this package's own types reach here; they always encode.
		panic("apitest: encoding a response: " + err.Error())
	}
	header := w.Header()
	header.Set("x-rate-limit-limit", strconv.Itoa(rl.Limit))
	header.Set("x-rate-limit-remaining", strconv.Itoa(rl.Remaining))
	header.Set("x-rate-limit-reset", strconv.FormatInt(rl.Reset.Unix(), 10))
	header.Set("Content-Type", contentType)
	header.Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

// writeProblem sends p with token's rate-limit headers, without using the window up.
func (h *Handler) writeProblem(w http.ResponseWriter, token string, p problem) {
	h.writeJSON(w, h.RateLimit(token), p.Status, "application/problem+json", p)
}

// writeRateLimited sends the 429 for an exhausted window.
func (h *Handler) writeRateLimited(w http.ResponseWriter, rl RateLimitState) {
	if h.legacy429 {
		h.writeJSON(w, rl, http.StatusTooManyRequests, "application/json", legacyRateLimitBody)
		return
	}
	p := aboutBlank(http.StatusTooManyRequests, "Too Many Requests")
	h.writeJSON(w, rl, http.StatusTooManyRequests, "application/problem+json", p)
}

// writeFault answers with an injected failure, or drops the connection.
func (h *Handler) writeFault(w http.ResponseWriter, token string, f fault) {
	switch {
	case f.drop:
		drop(w)
	case f.status == http.StatusTooManyRequests:
		h.writeRateLimited(w, h.RateLimit(token))
	case f.status == http.StatusUnauthorized:
		h.writeProblem(w, token, aboutBlank(http.StatusUnauthorized, "Unauthorized"))
	default:
		h.writeProblem(w, token, aboutBlank(f.status, "apitest: injected failure"))
	}
}

// drop closes the connection without an answer. Over HTTP/1 the connection is taken over and closed, so
// the client reads EOF; where that is not possible, aborting the handler resets the stream instead.
func drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}
