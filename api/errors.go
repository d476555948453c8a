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
)

// ErrRateLimited is the errors.Is target for an *APIError with HTTP status 429. The error's RateLimit
// (and RetryAt) say when X accepts calls again.
var ErrRateLimited = errors.New("markread: rate limited")

// ErrResponseTooLarge is the errors.Is target for a response whose body is larger than the client's limit
// (see WithMaxResponseBytes).
var ErrResponseTooLarge = errors.New("markread: response body too large")

// APIError is X's answer when it did not mark the conversation read: any status but 200, or a 200 whose
// data.success is not true. Use errors.As to get it and errors.Is(err, ErrRateLimited) to test for 429.
type APIError struct {
	StatusCode int
	// Problems are the errors X reported, in the order sent, whatever shape the body had.
	Problems []Problem
	// RateLimit is what the response's rate-limit headers said.
	RateLimit RateLimit
	// RetryAfter is the response's Retry-After header, or 0.
	RetryAfter time.Duration
	// Body is a short, printable excerpt of a body that could not be decoded (a proxy's HTML page, say).
	Body string
	// Attempts is how many requests the call made in all, this one included.
	Attempts int

	received time.Time // when the response arrived, the origin of RetryAfter
}

// RetryAt is the earliest moment X said it would accept the call again, from the rate-limit headers or
// Retry-After; zero when the response named none.
func (e *APIError) RetryAt() time.Time {
	at := e.RateLimit.resumeAt()
	if e.RetryAfter > 0 {
		if ra := e.received.Add(e.RetryAfter); ra.After(at) {
			at = ra
		}
	}
	return at
}

// Error describes the failure in one line: status, X's problems or a body excerpt, the reset time on 429,
// and the number of attempts.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("markread: HTTP ")
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
		b.WriteString(e.Body)
	}
	for i, p := range e.Problems {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
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

func attemptsText(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return strconv.Itoa(n) + " attempts"
}

// excerpt turns an undecodable body into a short, single-line, printable string that cannot forge log lines
// or terminal output.
func excerpt(body []byte) string {
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

// prefixed adds the package's "markread: " prefix to err as it leaves the package, through an exported
// function or method or a handler the caller set. It is the one place the prefix is added: errors made
// inside the package, sentinels included, carry none, so that wrapping never doubles it.
func prefixed(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("markread: %w", err)
}
