package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/xchat-go/markread/internal/textsafe"
)

// redactOutcome is the one place where an attempt's outcome is made safe to leave the package: every
// credential the request carried is replaced, by exact match, in what the answer brought back, after
// decoding (problems and their extra members at any depth, the body excerpt, header values, a transport
// error's text). SECURITY.md says why an echo in another form (case changed, percent-encoded) is out of
// scope.
func redactOutcome(res *MarkReadResult, err error, secrets []string) (*MarkReadResult, error) {
	if res != nil {
		redactProblems(res.Problems, secrets)
		res.Header = redactHeader(res.Header, secrets)
	}
	if err == nil {
		return res, nil
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		redactProblems(apiErr.Problems, secrets)
		apiErr.Body = excerpt(textsafe.Redact(apiErr.Body, secrets...))
		apiErr.Header = redactHeader(apiErr.Header, secrets)
		return res, err
	}
	text := err.Error()
	clean := textsafe.Redact(text, secrets...)
	if clean == text {
		return res, err
	}
	redactedErr := &redactedError{text: clean}
	for _, target := range sentinels {
		if errors.Is(err, target) {
			redactedErr.matched = append(redactedErr.matched, target)
		}
	}
	return res, redactedErr
}

// redactHeader returns h, or a copy with the secrets replaced when a value holds one.
func redactHeader(h http.Header, secrets []string) http.Header {
	out, copied := h, false
	for name, values := range h {
		for i, v := range values {
			if clean := textsafe.Redact(v, secrets...); clean != v {
				if !copied {
					out, copied = h.Clone(), true
				}
				out[name][i] = clean
			}
		}
	}
	return out
}

// redactProblems replaces the secrets in every text member of each problem and in its extra members,
// names and values, decoded, at any depth.
func redactProblems(problems []Problem, secrets []string) {
	for i := range problems {
		p := &problems[i]
		for _, f := range []*string{&p.Type, &p.Title, &p.Detail, &p.ResourceType, &p.ResourceID, &p.Parameter,
			&p.Value, &p.Field, &p.Section, &p.Message} {
			*f = textsafe.Redact(*f, secrets...)
		}
		if len(p.Extra) == 0 {
			continue
		}
		extra := make(map[string]json.RawMessage, len(p.Extra))
		for name, raw := range p.Extra {
			extra[textsafe.Redact(name, secrets...)] = redactJSON(raw, secrets)
		}
		p.Extra = extra
	}
}

// redactJSON replaces the secrets in every string and key of a JSON value, decoded so that an escaped
// echo (\u0061…) is found too. Every string token is read, duplicate keys included; the value is
// re-encoded only when one held a secret.
func redactJSON(raw json.RawMessage, secrets []string) json.RawMessage {
	// Escaping only lengthens text: a value shorter than every secret cannot hold one.
	if !anyFits(len(raw), secrets) || !holdsSecret(raw, secrets) {
		return raw
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return json.RawMessage(`"` + textsafe.Redacted + `"`)
	}
	var walk func(any) any
	walk = func(v any) any {
		switch v := v.(type) {
		case string:
			return textsafe.Redact(v, secrets...)
		case []any:
			for i := range v {
				v[i] = walk(v[i])
			}
		case map[string]any:
			out := make(map[string]any, len(v))
			for k, e := range v {
				out[textsafe.Redact(k, secrets...)] = walk(e)
			}
			return out
		}
		return v
	}
	out, err := json.Marshal(walk(v))
	if err != nil {
		return json.RawMessage(`"` + textsafe.Redacted + `"`)
	}
	return out
}

// holdsSecret reports whether any string token of the JSON value, key or value, holds a secret.
func holdsSecret(raw json.RawMessage, secrets []string) bool {
	dec := json.NewDecoder(bytes.NewReader(raw))
	for {
		tok, err := dec.Token()
		if err != nil {
			return err != io.EOF // what does not decode is not shown as it is
		}
		if s, ok := tok.(string); ok && textsafe.Redact(s, secrets...) != s {
			return true
		}
	}
}

func anyFits(n int, secrets []string) bool {
	for _, s := range secrets {
		if s != "" && n >= len(s) {
			return true
		}
	}
	return false
}
