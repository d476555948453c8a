package api

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/xchat-go/markread/internal/specoracle"
)

// specPattern is the conversation ID's pattern read from spec/openapi.yaml, the oracle that
// ValidateConversationID is checked against, and where the spec states it.
func specPattern(t testing.TB) (*regexp.Regexp, string) {
	t.Helper()
	p, err := specoracle.ForTest(t).ConversationIDPattern()
	if err != nil {
		t.Fatal(err)
	}
	re, err := p.Regexp()
	if err != nil {
		t.Fatal(err)
	}
	return re, p.Where + " `" + p.Pattern + "`"
}

func TestValidateConversationID(t *testing.T) {
	pattern, where := specPattern(t)
	nineteen := strings.Repeat("9", 19)
	tests := []struct {
		name string
		id   string
		ok   bool
	}{
		{"recipient user ID", "1587411342381740032", true},
		{"legacy 1:1", "1587411342381740032-783214", true},
		{"group", "g1940387460021112832", true},
		{"1 digit", "7", true},
		{"19 digits", nineteen, true},
		{"legacy 1 and 19 digits", "1-" + nineteen, true},
		{"group 1 digit", "g0", true},
		{"group 19 digits", "g" + nineteen, true},
		{"20 digits", nineteen + "9", false},
		{"legacy 20 digits right", "1-" + nineteen + "9", false},
		{"legacy 20 digits left", nineteen + "9-1", false},
		{"group 20 digits", "g" + nineteen + "9", false},
		{"empty", "", false},
		{"g alone", "g", false},
		{"trailing dash", "1-", false},
		{"leading dash", "-1", false},
		{"dash alone", "-", false},
		{"three parts", "1-2-3", false},
		{"leading space", " 1", false},
		{"trailing space", "1 ", false},
		{"trailing newline", "1\n", false},
		{"leading newline", "\n1", false},
		{"path traversal", "../1", false},
		{"slash", "1/2", false},
		{"escaped slash", "1%2F2", false},
		{"escaped slash alone", "%2F", false},
		{"Arabic-Indic digits", "١٢٣", false},
		{"fullwidth digits", "１２３", false},
		{"upper-case G", "G123", false},
		{"group with dash", "g1-2", false},
		{"colon form", "1:2", false},
		{"plus sign", "+1", false},
		{"NUL", "1\x00", false},
		{"query", "1?x=1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pattern.MatchString(tt.id); got != tt.ok {
				t.Fatalf("the test table says %v for %q, but %s says %v: update ValidateConversationID (api/id.go) and this table to the spec",
					tt.ok, tt.id, where, got)
			}
			err := ValidateConversationID(tt.id)
			if tt.ok {
				if err != nil {
					t.Fatalf("ValidateConversationID(%q) = %v, want nil", tt.id, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConversationID) {
				t.Fatalf("ValidateConversationID(%q) = %v, want an error wrapping ErrInvalidConversationID", tt.id, err)
			}
			if quoted := quoteInput(tt.id); !strings.Contains(err.Error(), quoted) {
				t.Errorf("error %q does not quote the input as %s", err, quoted)
			}
			if strings.ContainsAny(err.Error(), "\n\x00") {
				t.Errorf("error %q carries a raw control character from the input", err)
			}
		})
	}
}

func TestValidateConversationIDAllocatesNothing(t *testing.T) {
	for _, id := range []string{"1587411342381740032", "1587411342381740032-783214", "g1940387460021112832"} {
		if n := testing.AllocsPerRun(100, func() { _ = ValidateConversationID(id) }); n != 0 {
			t.Errorf("ValidateConversationID(%q) allocates %v times, want 0", id, n)
		}
	}
}

func TestValidateConversationIDLongInputIsCut(t *testing.T) {
	err := ValidateConversationID(strings.Repeat("x", 1<<20))
	if !errors.Is(err, ErrInvalidConversationID) {
		t.Fatalf("got %v", err)
	}
	if len(err.Error()) > 400 {
		t.Errorf("error for a 1 MiB ID is %d bytes long; want it cut", len(err.Error()))
	}
	if !strings.Contains(err.Error(), "1048576 bytes") {
		t.Errorf("error %q does not give the input's length", err)
	}
}

func TestNormalizeConversationID(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"123:456", "123-456", true},
		{"123-456", "123-456", true},
		{"g77", "g77", true},
		{"42", "42", true},
		{"1:", "", false},
		{":1", "", false},
		{"1:2:3", "", false},
		{"g1:2", "", false},
		{"1:" + strings.Repeat("1", 20), "", false},
		{" 1:2", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, err := NormalizeConversationID(tt.in)
		if tt.ok {
			if err != nil || got != tt.want {
				t.Errorf("NormalizeConversationID(%q) = %q, %v; want %q, nil", tt.in, got, err, tt.want)
			}
			if ValidateConversationID(got) != nil {
				t.Errorf("NormalizeConversationID(%q) = %q, which does not validate", tt.in, got)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidConversationID) || got != "" {
			t.Errorf("NormalizeConversationID(%q) = %q, %v; want \"\" and ErrInvalidConversationID", tt.in, got, err)
		}
	}
}

func TestValidateConversationIDPointsAtNormalize(t *testing.T) {
	err := ValidateConversationID("123:456")
	if err == nil || !strings.Contains(err.Error(), "NormalizeConversationID") {
		t.Errorf("error for the a:b form should point at NormalizeConversationID, got %v", err)
	}
}

// FuzzValidateConversationID checks ValidateConversationID against the pattern spec/openapi.yaml states:
// they must agree on every input. Seeds live in testdata/fuzz/FuzzValidateConversationID.
func FuzzValidateConversationID(f *testing.F) {
	pattern, where := specPattern(f)
	for _, seed := range []string{"1", "1-2", "g1", "", "g", "1-", "١", "1\n"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, id string) {
		want := pattern.MatchString(id)
		err := ValidateConversationID(id)
		if (err == nil) != want {
			t.Fatalf("ValidateConversationID(%q) = %v, but %s matches: %v", id, err, where, want)
		}
		if err != nil && !errors.Is(err, ErrInvalidConversationID) {
			t.Fatalf("ValidateConversationID(%q) = %v, not wrapping ErrInvalidConversationID", id, err)
		}
		norm, nerr := NormalizeConversationID(id)
		if nerr == nil && !pattern.MatchString(norm) {
			t.Fatalf("NormalizeConversationID(%q) = %q, which %s rejects", id, norm, where)
		}
		if want && (nerr != nil || norm != id) {
			t.Fatalf("NormalizeConversationID(%q) = %q, %v; want the valid ID unchanged", id, norm, nerr)
		}
	})
}
