package api

// Interim helpers for the token source, the token store and the Marker until their rewrites land (issues
// 16 and 17). This file goes when they do.

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"golang.org/x/oauth2"

	"github.com/xchat-go/markread/internal/textsafe"
)

func prefixed(err error) error { return err }

type scrubber []string

func (sc scrubber) text(s string) string { return redact(s, sc...) }

func refusalText(retrieve *oauth2.RetrieveError, secrets scrubber) string {
	text := "the token endpoint refused to issue a token"
	if retrieve.Response != nil {
		text += " (HTTP " + strconv.Itoa(retrieve.Response.StatusCode) + ")"
	}
	if retrieve.ErrorCode != "" {
		text += ": " + textsafe.OneLine(secrets.text(retrieve.ErrorCode))
	}
	return text
}

func sourceFailureText(error) string {
	return "its request failed; its error is withheld, as it may quote what the token endpoint answered"
}

func formatText(f fmt.State, verb rune, text string) {
	if verb == 'q' || f.Flag('#') {
		_, _ = io.WriteString(f, strconv.Quote(text))
		return
	}
	_, _ = io.WriteString(f, text)
}

func joinErrors(errs ...error) error {
	var list errorList
	for _, err := range errs {
		if err != nil {
			list = append(list, err)
		}
	}
	switch len(list) {
	case 0:
		return nil
	case 1:
		return list[0]
	}
	return list
}

type errorList []error

func (l errorList) Error() string {
	texts := make([]string, len(l))
	for i, err := range l {
		texts[i] = err.Error()
	}
	return strings.Join(texts, "; ")
}

func (l errorList) Unwrap() []error { return l }

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}
