package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// redacted stands in for a secret wherever a server echoed it.
const redacted = "[REDACTED]"

// scrubber removes a request's secrets from what its answer brings back. A broken or hostile server can
// echo a credential anywhere: in the body, a header's name or value, a status line that net/http quotes in
// its error, a redirect's Location. Two rules cover it:
//
//   - the secret as it was sent is replaced by [REDACTED] wherever it appears; bearer tokens are refused
//     unless they have RFC 6750's characters (see isBearerToken), so the escaped forms net/http, strconv
//     and encoding/json produce of a token read the same as the token;
//   - a text that still holds a secret in another form, with its letters' case changed (a header name that
//     net/http canonicalised), percent-encoded or JSON-escaped, even twice over, is withheld whole.
//
// The secrets are those the authorizer named for the request, which include the client's recent tokens,
// so that an answer echoing the token of an earlier attempt is scrubbed too.
type scrubber []string

// text returns s with every secret replaced, or redacted alone when s hides a secret in another form.
func (sc scrubber) text(s string) string {
	for _, secret := range sc {
		if secret != "" && strings.Contains(s, secret) {
			s = strings.ReplaceAll(s, secret, redacted)
		}
	}
	if sc.hides(s) {
		return redacted
	}
	return s
}

// hides reports whether s holds a secret in a form other than as sent: case-folded, or under up to three
// rounds of percent-decoding and JSON unescaping. It allocates only when s holds a % or a backslash.
func (sc scrubber) hides(s string) bool {
	for _, secret := range sc {
		if secret == "" {
			continue
		}
		if containsFold(s, secret) {
			return true
		}
		if strings.ContainsAny(s, `%\`) {
			view := s
			for range 3 {
				view = string(unescapeJSON([]byte(percentDecode(view))))
				if containsFold(view, secret) {
					return true
				}
			}
		}
	}
	return false
}

// containsFold reports whether sub is within s, ignoring ASCII and Unicode case, without allocating.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// percentDecode decodes every %XX escape in s and leaves anything else, a stray % included, as it is.
func percentDecode(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if b, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				out = append(out, byte(b))
				i += 2
				continue
			}
		}
		out = append(out, s[i])
	}
	return string(out)
}

// bytes replaces every secret in b, as sent. Decoding comes later and scrubs the decoded text again.
func (sc scrubber) bytes(b []byte) []byte {
	for _, secret := range sc {
		if secret != "" && bytes.Contains(b, []byte(secret)) {
			b = bytes.ReplaceAll(b, []byte(secret), []byte(redacted))
		}
	}
	return b
}

// header returns h with every secret replaced in names and values: h itself when it holds none, else a
// scrubbed copy.
func (sc scrubber) header(h http.Header) http.Header {
	if !sc.inHeader(h) {
		return h
	}
	out := make(http.Header, len(h))
	for name, values := range h {
		clean := make([]string, len(values))
		for i, v := range values {
			clean[i] = sc.text(v)
		}
		out[sc.text(name)] = clean
	}
	return out
}

func (sc scrubber) inHeader(h http.Header) bool {
	for name, values := range h {
		if sc.text(name) != name {
			return true
		}
		for _, v := range values {
			if sc.text(v) != v {
				return true
			}
		}
	}
	return false
}

// json scrubs a JSON value at any depth, object keys included: the raw form is decoded first, so that
// an escaped echo (\u0061…) is found too. A value that does not decode is returned as a JSON string of
// its scrubbed text.
func (sc scrubber) json(raw json.RawMessage) json.RawMessage {
	if len(sc) == 0 {
		return raw
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		out, _ := json.Marshal(sc.text(string(raw)))
		return out
	}
	out, err := json.Marshal(sc.value(v))
	if err != nil {
		return json.RawMessage(`null`)
	}
	return out
}

func (sc scrubber) value(v any) any {
	switch v := v.(type) {
	case string:
		return sc.text(v)
	case []any:
		for i := range v {
			v[i] = sc.value(v[i])
		}
		return v
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[sc.text(k)] = sc.value(e)
		}
		return out
	}
	return v
}

// problem scrubs every text member of p and its Extra members at any depth.
func (sc scrubber) problem(p *Problem) {
	for _, f := range []*string{&p.Type, &p.Title, &p.Detail, &p.ResourceType, &p.ResourceID, &p.Parameter,
		&p.Value, &p.Field, &p.Section, &p.Message} {
		*f = sc.text(*f)
	}
	if len(p.Extra) == 0 {
		return
	}
	extra := make(map[string]json.RawMessage, len(p.Extra))
	for name, raw := range p.Extra {
		extra[sc.text(name)] = sc.json(raw)
	}
	p.Extra = extra
}

// problems scrubs each problem in place.
func (sc scrubber) problems(ps []Problem) {
	for i := range ps {
		sc.problem(&ps[i])
	}
}

// err returns err with every secret gone from its text. An *APIError is scrubbed in place, and any
// other error whose text holds a secret is replaced by a redactedError.
func (sc scrubber) err(err error) error {
	if err == nil || len(sc) == 0 {
		return err
	}
	if apiErr, ok := err.(*APIError); ok {
		sc.problems(apiErr.Problems)
		apiErr.Body = sc.text(apiErr.Body)
		apiErr.Header = sc.header(apiErr.Header)
		return apiErr
	}
	if text := err.Error(); sc.text(text) != text {
		return &redactedError{original: err, text: sc.text(text)}
	}
	return err
}

// redactedError is an error whose text held a secret, with the secret replaced. errors.Is still sees
// what the original error matched (context.DeadlineExceeded, say), but nothing unwraps to the original,
// whose text holds the secret; and its Format method prints only the scrubbed text, whatever the verb: a
// %d or %x would otherwise make fmt walk the fields.
type redactedError struct {
	original error
	text     string
}

func (e *redactedError) Error() string        { return e.text }
func (e *redactedError) Is(target error) bool { return errors.Is(e.original, target) }

func (e *redactedError) Format(f fmt.State, verb rune) { formatText(f, verb, e.text) }

// formatText prints an error's text for any fmt verb: quoted for %q and %#v, as it is otherwise.
func formatText(f fmt.State, verb rune, text string) {
	if verb == 'q' || f.Flag('#') {
		_, _ = io.WriteString(f, strconv.Quote(text))
		return
	}
	_, _ = io.WriteString(f, text)
}

// redact returns s with every exact occurrence of each secret replaced by [REDACTED]. A text shorter
// than a secret cannot hold it, so the common case costs a length comparison.
func redact(s string, secrets ...string) string {
	for _, secret := range secrets {
		if secret != "" && len(s) >= len(secret) && strings.Contains(s, secret) {
			s = strings.ReplaceAll(s, secret, redacted)
		}
	}
	return s
}
