package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/xchat-go/markread/internal/plural"
	"github.com/xchat-go/markread/internal/textsafe"
)

// ErrRateLimited is the errors.Is target for an *APIError with HTTP status 429. The error's RetryAt says
// when X accepts calls again.
var ErrRateLimited = errors.New("rate limited")

// ErrResponseTooLarge is the errors.Is target for a response whose body is larger than the client's limit
// (see WithMaxResponseBytes).
var ErrResponseTooLarge = errors.New("response body too large")

// APIError is X's answer when it did not mark the conversation read: any status but 200, or a 200 whose
// data.success is not true. Use errors.As to get it and errors.Is(err, ErrRateLimited) to test for 429.
//
// Its text is one line: whatever the server sent is shown with control characters escaped. The fields
// keep what was received as it was, scrubbed of the request's credentials.
type APIError struct {
	StatusCode int
	// Problems are the errors X reported, in the order sent, whatever shape the body had.
	Problems []Problem
	// RateLimit is what the response's rate-limit headers said.
	RateLimit RateLimit
	// RetryAfter is when the response's Retry-After header said to come back (its delay counted from
	// the moment the answer arrived), or zero.
	RetryAfter time.Time
	// Body is a short, printable excerpt of a body that could not be decoded (a proxy's HTML page, say).
	Body string
	// Header is the response's header.
	Header http.Header
	// Attempts is how many requests the call made in all, this one included.
	Attempts int
}

// RetryAt is the earliest moment the response said X would accept the call again: the latest of the
// reset of each exhausted rate-limit window (or of the main window when none says it is exhausted, as X
// answers 429 with remaining above 0 at times) and RetryAfter. It is zero when the response named none.
func (e *APIError) RetryAt() time.Time {
	at := e.RateLimit.resumeAt()
	if e.RetryAfter.After(at) {
		at = e.RetryAfter
	}
	return at
}

// Error describes the failure in one line: status, X's problems or a body excerpt, the reset time on 429,
// and the number of attempts.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("HTTP ")
	b.WriteString(strconv.Itoa(e.StatusCode))
	if text := http.StatusText(e.StatusCode); text != "" {
		b.WriteByte(' ')
		b.WriteString(text)
	}
	switch {
	case e.StatusCode == http.StatusOK && len(e.Problems) == 0 && e.Body == "":
		b.WriteString(": X did not confirm the conversation as read")
	case e.Body != "":
		b.WriteString(": body: ")
		b.WriteString(textsafe.OneLine(e.Body))
	}
	// A bounded line: a server decides how many problems it sends and how long they are.
	const maxProblems, maxProblemText = 5, 300
	for i, p := range e.Problems {
		if i == maxProblems {
			b.WriteString("; and ")
			b.WriteString(plural.Count(len(e.Problems)-maxProblems, "more problem"))
			break
		}
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(textsafe.Cut(p.String(), maxProblemText))
	}
	if e.StatusCode == http.StatusServiceUnavailable && !e.RetryAfter.IsZero() {
		b.WriteString("; retry after ")
		b.WriteString(e.RetryAfter.UTC().Format(time.RFC3339))
	}
	if e.StatusCode == http.StatusTooManyRequests {
		if at := e.RetryAt(); !at.IsZero() {
			b.WriteString("; rate limit resets at ")
			b.WriteString(at.UTC().Format(time.RFC3339))
		} else {
			b.WriteString("; no reset time given")
		}
	}
	if e.Attempts > 0 {
		b.WriteString(" (after ")
		b.WriteString(attemptsText(e.Attempts))
		b.WriteByte(')')
	}
	return b.String()
}

// Is makes errors.Is(err, ErrRateLimited) hold for a 429.
func (e *APIError) Is(target error) bool {
	return target == ErrRateLimited && e.StatusCode == http.StatusTooManyRequests
}

// attemptsError adds the number of attempts a call made to an error that does not say it itself.
type attemptsError struct {
	err      error
	attempts int
}

func (e *attemptsError) Error() string {
	return e.err.Error() + " (after " + attemptsText(e.attempts) + ")"
}
func (e *attemptsError) Unwrap() error { return e.err }

func attemptsText(n int) string { return plural.Count(n, "attempt") }

// prefixed adds the package's "markread: " prefix to err as it leaves the package, through an exported
// function or method or a handler the caller set. It is the one place the prefix is added: errors made
// inside the package, sentinels included, carry none, so that wrapping never doubles it.
func prefixed(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("markread: %w", err)
}

// excerpt turns an undecodable body into a short, single-line, printable string that cannot forge log
// lines or terminal output. A body that carries one of the request's secrets in another form than as sent
// (see scrubber) is withheld altogether.
func excerpt(body []byte, scrub scrubber) string {
	if scrub.hides(string(body)) {
		return "[withheld: the body carried a credential]"
	}
	const keep = 200
	var b strings.Builder
	space := false
	for len(body) > 0 && b.Len() < keep {
		r, size := utf8.DecodeRune(body)
		body = body[size:]
		switch {
		case r == utf8.RuneError && size <= 1:
			r = '?'
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case !unicode.IsPrint(r):
			r = '?'
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	if len(body) > 0 {
		b.WriteString("…")
	}
	return b.String()
}

// unescapeJSON decodes the backslash escapes of JSON strings wherever they stand in b (\u0061, \/, \n…),
// leaving everything else as it is.
func unescapeJSON(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 == len(b) {
			out = append(out, b[i])
			continue
		}
		i++
		switch c := b[i]; c {
		case 'u':
			if i+4 < len(b) {
				if n, err := strconv.ParseUint(string(b[i+1:i+5]), 16, 32); err == nil {
					out = utf8.AppendRune(out, rune(n))
					i += 4
					continue
				}
			}
			out = append(out, '\\', c)
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		default: // \" \\ \/ and anything else: the character itself
			out = append(out, c)
		}
	}
	return out
}

// joinErrors joins errors, nil ones dropped, into one whose text is one line, "a; b; c" (errors.Join's is
// one line per error). errors.Is and errors.As see every one of them. It returns nil when all are nil.
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
	var b strings.Builder
	for i, err := range l {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(err.Error())
	}
	return b.String()
}

func (l errorList) Unwrap() []error { return l }
