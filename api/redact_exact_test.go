package api

import "testing"

// redact is the one exact replacement every redaction uses: each occurrence of each non-empty secret goes,
// and nothing else changes.
func TestRedactReplacesEveryExactOccurrence(t *testing.T) {
	tests := []struct{ s, want string }{
		{"token abc and abc again", "token " + redacted + " and " + redacted + " again"},
		{"ABC is another text", "ABC is another text"},
		{"ab", "ab"},
		{"abc then xyz", redacted + " then " + redacted},
	}
	for _, tt := range tests {
		if got := redact(tt.s, "abc", "", "xyz"); got != tt.want {
			t.Errorf("redact(%q) = %q, want %q", tt.s, got, tt.want)
		}
	}
}
