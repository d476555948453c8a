package api

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/xchat-go/markread/internal/textsafe"
)

// Problem is one error X reported: an RFC 7807 problem object, an entry of an "errors" array, or X's older
// {"code", "message"} shape. Decoding is lenient: members this type does not name are kept in Extra.
// Its fields mirror the spec's Problem and Error schemas by hand (gen's Problem is strict); a test reads the
// spec and names any property that lacks a field.
type Problem struct {
	Type         string `json:"type,omitempty"` // a URI: https://api.x.com/2/problems/…, or on api.twitter.com
	Title        string `json:"title,omitempty"`
	Detail       string `json:"detail,omitempty"`
	Status       int    `json:"status,omitempty"`
	ResourceType string `json:"resource_type,omitempty"`
	ResourceID   string `json:"resource_id,omitempty"`
	Parameter    string `json:"parameter,omitempty"`
	Value        string `json:"value,omitempty"`
	Field        string `json:"field,omitempty"`
	Section      string `json:"section,omitempty"`
	Code         int    `json:"code,omitempty"` // X's older shape: {"code":88,"message":"Rate limit exceeded"}
	Message      string `json:"message,omitempty"`
	// Extra holds every other member as sent, such as client-forbidden's "registration_url".
	Extra map[string]json.RawMessage `json:"-"`
}

// problemFields is Problem without its methods, so that decoding it does not recurse.
type problemFields Problem

// UnmarshalJSON decodes leniently: an unknown member, or one of an unexpected JSON type, goes to Extra.
func (p *Problem) UnmarshalJSON(data []byte) error {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		return err
	}
	*p = Problem{}
	for name, raw := range members {
		if !p.setKnown(name, raw) {
			if p.Extra == nil {
				p.Extra = make(map[string]json.RawMessage)
			}
			p.Extra[name] = raw
		}
	}
	return nil
}

// setKnown stores a named member and reports whether it was one of Problem's fields of the right type.
func (p *Problem) setKnown(name string, raw json.RawMessage) bool {
	var s *string
	var n *int
	switch name {
	case "type":
		s = &p.Type
	case "title":
		s = &p.Title
	case "detail":
		s = &p.Detail
	case "resource_type":
		s = &p.ResourceType
	case "resource_id":
		s = &p.ResourceID
	case "parameter":
		s = &p.Parameter
	case "value":
		s = &p.Value
	case "field":
		s = &p.Field
	case "section":
		s = &p.Section
	case "message":
		s = &p.Message
	case "status":
		n = &p.Status
	case "code":
		n = &p.Code
	default:
		return false
	}
	if s != nil {
		return json.Unmarshal(raw, s) == nil
	}
	return json.Unmarshal(raw, n) == nil
}

// MarshalJSON encodes the problem with its Extra members.
func (p Problem) MarshalJSON() ([]byte, error) {
	known, err := json.Marshal(problemFields(p))
	if err != nil || len(p.Extra) == 0 {
		return known, err
	}
	extra, err := json.Marshal(p.Extra)
	if err != nil {
		return nil, err
	}
	if bytes.Equal(known, []byte("{}")) {
		return extra, nil
	}
	// Both are JSON objects: join them as {known…,extra…}.
	out := append(known[:len(known)-1:len(known)-1], ',')
	return append(out, extra[1:]...), nil
}

// String describes the problem in one line, control characters escaped.
func (p Problem) String() string {
	return textsafe.OneLine(p.text())
}

func (p Problem) text() string {
	text := p.Detail
	if text == "" {
		text = p.Title
	}
	if text == "" {
		text = p.Message
	}
	switch {
	case p.Type != "" && text != "":
		return text + " (" + p.Type + ")"
	case p.Type != "":
		return p.Type
	case p.Code != 0 && text != "":
		return text + " (code " + strconv.Itoa(p.Code) + ")"
	case p.Code != 0:
		return "code " + strconv.Itoa(p.Code)
	}
	return text
}

// isZero reports whether nothing was decoded into p.
func (p *Problem) isZero() bool {
	return p.Type == "" && p.Title == "" && p.Detail == "" && p.Message == "" && p.Code == 0
}
