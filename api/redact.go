package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// redacted stands in for a credential wherever a server echoed it.
const redacted = "[REDACTED]"

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
		apiErr.Body = excerpt(redact(apiErr.Body, secrets...))
		apiErr.Header = redactHeader(apiErr.Header, secrets)
		return res, err
	}
	text := err.Error()
	clean := redact(text, secrets...)
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
			if clean := redact(v, secrets...); clean != v {
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
// decoded, at any depth.
func redactProblems(problems []Problem, secrets []string) {
	for i := range problems {
		p := &problems[i]
		for _, f := range []*string{&p.Type, &p.Title, &p.Detail, &p.ResourceType, &p.ResourceID, &p.Parameter,
			&p.Value, &p.Field, &p.Section, &p.Message} {
			*f = redact(*f, secrets...)
		}
		for name, raw := range p.Extra {
			cleanName, clean := redact(name, secrets...), redactJSON(raw, secrets)
			if cleanName != name {
				delete(p.Extra, name)
			}
			p.Extra[cleanName] = clean
		}
	}
}

// redactJSON replaces the secrets in every string and key of a JSON value, decoded so that an escaped
// echo (\u0061…) is found too. The value is re-encoded only when it held a secret.
func redactJSON(raw json.RawMessage, secrets []string) json.RawMessage {
	// Escaping only lengthens text: a value shorter than every secret cannot hold one.
	if !anyFits(len(raw), secrets) {
		return raw
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return raw // Extra members come from a decoded object: this does not happen
	}
	changed := false
	var walk func(any) any
	walk = func(v any) any {
		switch v := v.(type) {
		case string:
			clean := redact(v, secrets...)
			changed = changed || clean != v
			return clean
		case []any:
			for i := range v {
				v[i] = walk(v[i])
			}
		case map[string]any:
			out := make(map[string]any, len(v))
			for k, e := range v {
				out[walk(k).(string)] = walk(e)
			}
			return out
		}
		return v
	}
	v = walk(v)
	if !changed {
		return raw
	}
	out, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage(`"` + redacted + `"`)
	}
	return out
}

func anyFits(n int, secrets []string) bool {
	for _, s := range secrets {
		if s != "" && n >= len(s) {
			return true
		}
	}
	return false
}
