package textsafe

import (
	"strings"
	"testing"
)

func TestOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"plain text, \"quotes\" and a \\": "plain text, \"quotes\" and a \\",
		"two\nlines\r":                    `two\nlines\r`,
		"\x1b[2Jcleared":                  `\x1b[2Jcleared`,
		"bidi \u202eoverride":             `bidi \u202eoverride`,
		"bad \xff byte":                   `bad \xff byte`,
		"héllo wörld":                     "héllo wörld",
	} {
		if got := OneLine(in); got != want {
			t.Errorf("OneLine(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCut(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly", 7, "exactly"},
		{"longer text", 6, "longer…"},
		{"ééé", 3, "é…"}, // never splits a rune
	} {
		if got := Cut(tc.in, tc.n); got != tc.want {
			t.Errorf("Cut(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

// redact is the one exact replacement every redaction uses: each occurrence of each non-empty secret goes,
// and nothing else changes.
func TestRedactReplacesEveryExactOccurrence(t *testing.T) {
	tests := []struct{ s, want string }{
		{"token abc and abc again", "token " + Redacted + " and " + Redacted + " again"},
		{"ABC is another text", "ABC is another text"},
		{"ab", "ab"},
		{"abc then xyz", Redacted + " then " + Redacted},
	}
	for _, tt := range tests {
		if got := Redact(tt.s, "abc", "", "xyz"); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.s, got, tt.want)
		}
	}
}

func TestRedactCannotBeOutwitted(t *testing.T) {
	tests := []struct {
		name, s string
		secrets []string
	}{
		{"a short secret inside a longer one", "code Zq7-secret-value", []string{"Z", "Zq7-secret-value"}},
		{"a control character for the first letter", "detail \nSECRET0123", []string{"nSECRET0123"}},
		{"an escape for the first letters", "detail \x1bSECRET", []string{"x1bSECRET"}},
	}
	for _, tt := range tests {
		got := Redact(tt.s, tt.secrets...)
		for _, secret := range tt.secrets[len(tt.secrets)-1:] {
			if strings.Contains(got, secret) || strings.Contains(OneLine(got), secret) {
				t.Errorf("%s: Redact(%q) = %q, which shows %q", tt.name, tt.s, got, secret)
			}
		}
	}
}
