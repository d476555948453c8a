// Package textsafe makes text that markread did not write (a server's, a file's, a path) safe to show: one
// line, and no secret. Package api and the command line share it, as they must do both the same way.
package textsafe

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// OneLine escapes what could break a line or forge terminal output in text a server sent: line breaks,
// other control characters (ANSI escapes among them), invisible format characters such as bidi overrides,
// and invalid UTF-8, the way strconv.Quote writes them (\n, \x1b, \u202e); everything else is kept.
func OneLine(s string) string {
	ascii := true // printable ASCII, the usual case, is checked byte by byte
	for i := 0; i < len(s) && ascii; i++ {
		ascii = ' ' <= s[i] && s[i] <= '~'
	}
	if ascii {
		return s
	}
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) && r != ' ' {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unicode.IsPrint(r) || r == ' ':
			b.WriteString(s[i : i+size])
		default:
			quoted := strconv.QuoteRune(r) // e.g. '\n' or '\u202e'
			b.WriteString(quoted[1 : len(quoted)-1])
		}
		i += size
	}
	return b.String()
}

// Cut shortens s to at most n bytes, on a rune boundary, marking the cut with "…".
func Cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// Redacted stands in for a secret wherever a server echoed it.
const Redacted = "[REDACTED]"

// Redact returns s with every exact occurrence of each secret replaced by Redacted, the longest first, so
// that a short secret inside a longer one cannot break it before it is found. OneLine writes a control
// character as \n or \x1b, which with the letters after it can spell a secret a server sent with its first
// letter changed: such a text comes back escaped, and redacted.
func Redact(s string, secrets ...string) string {
	s = replace(s, secrets)
	if line := OneLine(s); line != s {
		if clean := replace(line, secrets); clean != line {
			return clean
		}
	}
	return s
}

func replace(s string, secrets []string) string {
	found := false // a text shorter than a secret cannot hold it: the common case costs a comparison
	for _, secret := range secrets {
		found = found || secret != "" && len(s) >= len(secret) && strings.Contains(s, secret)
	}
	if !found {
		return s
	}
	for _, secret := range slices.SortedFunc(slices.Values(secrets), func(a, b string) int { return len(b) - len(a) }) {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, Redacted)
		}
	}
	return s
}

// BasicCredential is the HTTP Basic credential x/oauth2 sends for a confidential client, which a token
// endpoint may echo; "" without a secret.
func BasicCredential(clientID, clientSecret string) string {
	if clientSecret == "" {
		return ""
	}
	return base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(clientID) + ":" + url.QueryEscape(clientSecret)))
}
