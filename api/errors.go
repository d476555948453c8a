package api

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/xchat-go/markread/internal/plural"
	"github.com/xchat-go/markread/internal/textsafe"
)

// Sentinels for errors.Is. Errors carry no package prefix: each gets its text where it is made.
var (
	// ErrRateLimited matches an *APIError with status 429.
	ErrRateLimited = errors.New("rate limited")
	// ErrResponseTooLarge matches a body over WithMaxResponseBytes.
	ErrResponseTooLarge = errors.New("response body too large")
	// ErrRedirect matches a refused redirect: a 301, 302 or 303, or one to another origin.
	ErrRedirect = errors.New("redirect refused")
)

// APIError is X's answer when it did not mark the conversation read: any status but 200, or a 200
// without data.success. Its fields keep what X sent, with the request's credentials redacted.
type APIError struct {
	StatusCode int
	Problems   []Problem // in the order sent, whatever shape the body had
	RateLimit  RateLimit
	RetryAfter time.Time // when Retry-After said to come back, or zero
	Body       string    // a short, printable excerpt of a body that did not decode (a proxy's page, say)
	Header     http.Header
	Attempts   int // requests the call made, this one included
}

// RetryAt is when the response said X accepts calls again (the used-up windows' resets, Retry-After), or
// zero.
func (e *APIError) RetryAt() time.Time {
	at := e.RateLimit.resumeAt()
	if e.RetryAfter.After(at) {
		at = e.RetryAfter
	}
	return at
}

// Error describes the failure in one line.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("HTTP " + strconv.Itoa(e.StatusCode))
	if text := http.StatusText(e.StatusCode); text != "" {
		b.WriteString(" " + text)
	}
	switch {
	case e.StatusCode == http.StatusOK && len(e.Problems) == 0 && e.Body == "":
		b.WriteString(": X did not confirm the conversation as read")
	case e.Body != "":
		b.WriteString(": body: " + textsafe.OneLine(e.Body))
	}
	// A bounded line: the server decides how many problems it sends and how long they are.
	const maxProblems, maxProblemText = 5, 300
	for i, p := range e.Problems {
		if i == maxProblems {
			b.WriteString("; and " + plural.Count(len(e.Problems)-maxProblems, "more problem"))
			break
		}
		sep := "; "
		if i == 0 {
			sep = ": "
		}
		b.WriteString(sep + textsafe.Cut(p.String(), maxProblemText))
	}
	if e.StatusCode == http.StatusServiceUnavailable && !e.RetryAfter.IsZero() {
		b.WriteString("; retry after " + e.RetryAfter.UTC().Format(time.RFC3339))
	}
	if e.StatusCode == http.StatusTooManyRequests {
		if at := e.RetryAt(); !at.IsZero() {
			b.WriteString("; rate limit resets at " + at.UTC().Format(time.RFC3339))
		} else {
			b.WriteString("; no reset time given")
		}
	}
	if e.Attempts > 1 {
		b.WriteString(" (after " + plural.Count(e.Attempts, "attempt") + ")")
	}
	return b.String()
}

// Is makes errors.Is(err, ErrRateLimited) hold for a 429.
func (e *APIError) Is(target error) bool {
	return target == ErrRateLimited && e.StatusCode == http.StatusTooManyRequests
}

// redactedError stands for an error whose text held a credential: the text with it replaced, and the
// sentinels the original matched. It keeps no reference to the original, whose text holds the secret.
type redactedError struct {
	text    string
	matched []error
}

func (e *redactedError) Error() string   { return e.text }
func (e *redactedError) Unwrap() []error { return e.matched }

// sentinels are what a caller may test a transport error for with errors.Is, kept through redaction.
var sentinels = []error{ErrRedirect, ErrResponseTooLarge, context.Canceled, context.DeadlineExceeded, os.ErrDeadlineExceeded}

// excerpt turns an undecodable body into a short, single-line, printable string that cannot forge log
// lines or terminal output.
func excerpt(body string) string {
	const keep = 200
	var b strings.Builder
	space := false
	for _, r := range body {
		if b.Len() >= keep {
			return b.String() + "…"
		}
		switch {
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case r == utf8.RuneError || !unicode.IsPrint(r):
			r = '?'
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// quoteInput quotes caller input for an error message with %q semantics, cut to a readable length so that
// a megabyte of garbage does not become a megabyte of error text.
func quoteInput(s string) string {
	const keep = 64
	if len(s) <= keep {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:keep]) + "… (" + strconv.Itoa(len(s)) + " bytes)"
}
