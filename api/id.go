package api

import (
	"errors"
	"fmt"
)

// ErrInvalidConversationID matches a conversation ID X would refuse.
var ErrInvalidConversationID = errors.New("invalid conversation ID")

// ErrInvalidSequenceID matches a sequence ID that is not ASCII digits.
var ErrInvalidSequenceID = errors.New("invalid seen-until sequence ID")

// maxIDDigits is the longest number X accepts in each part of a conversation ID.
const maxIDDigits = 19

// ValidateConversationID reports whether id matches X's pattern
// ^([0-9]{1,19}|[0-9]{1,19}-[0-9]{1,19}|g[0-9]{1,19})$; the error wraps ErrInvalidConversationID.
func ValidateConversationID(id string) error {
	return validateConversationID(id)
}

func validateConversationID(id string) error {
	if reason := conversationIDProblem(id); reason != "" {
		return fmt.Errorf("%w %s: %s", ErrInvalidConversationID, quoteInput(id), reason)
	}
	return nil
}

// NormalizeConversationID turns the "a:b" form of X Chat events into "a-b", and validates the ID.
func NormalizeConversationID(id string) (string, error) {
	for i := 0; i < len(id); i++ {
		if id[i] == ':' {
			if digitRun(id[:i]) && digitRun(id[i+1:]) {
				return id[:i] + "-" + id[i+1:], nil
			}
			return "", fmt.Errorf("%w %s: want \"<user ID>:<user ID>\" with 1 to %d ASCII digits on each side",
				ErrInvalidConversationID, quoteInput(id), maxIDDigits)
		}
	}
	if err := ValidateConversationID(id); err != nil {
		return "", err
	}
	return id, nil
}

// conversationIDProblem returns why id does not match X's pattern, or "" when it does. The reasons are
// constants, so the valid path and the check itself allocate nothing.
// It follows spec/openapi.yaml's id pattern by design, not by generation (oapi-codegen ignores patterns);
// TestValidateConversationID and FuzzValidateConversationID check it against the pattern read from the spec.
func conversationIDProblem(id string) string {
	const want = `want a user ID, "<user ID>-<user ID>" or "g<group ID>", each 1 to 19 ASCII digits`
	switch {
	case id == "":
		return "empty; " + want
	case id[0] == 'g':
		if digitRun(id[1:]) {
			return ""
		}
	default:
		for i := 0; i < len(id); i++ {
			if id[i] == '-' {
				if digitRun(id[:i]) && digitRun(id[i+1:]) {
					return ""
				}
				return want
			}
			if id[i] == ':' {
				return `the "<user ID>:<user ID>" form of X Chat events must be converted first; see NormalizeConversationID`
			}
		}
		if digitRun(id) {
			return ""
		}
	}
	return want
}

// digitRun reports whether s is 1 to 19 ASCII digits.
func digitRun(s string) bool {
	return len(s) > 0 && len(s) <= maxIDDigits && allDigits(s)
}

// allDigits reports whether every byte of s is an ASCII digit ("" included).
func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ValidateSequenceID reports whether seq is ASCII digits, the one rule for sequence IDs; the error wraps
// ErrInvalidSequenceID.
func ValidateSequenceID(seq string) error {
	return validateSequenceID(seq)
}

func validateSequenceID(seq string) error {
	switch {
	case seq == "":
		return fmt.Errorf("%w: empty; want the sequence ID of the last message read, ASCII digits", ErrInvalidSequenceID)
	case !allDigits(seq):
		return fmt.Errorf("%w %s: want the sequence ID of the last message read, ASCII digits only", ErrInvalidSequenceID, quoteInput(seq))
	}
	return nil
}
