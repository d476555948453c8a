package apitest

import "strings"

// compareSequenceIDs orders two sequence IDs of ASCII digits, X's form and the only one the fake accepts,
// as unsigned integers of any length. It returns -1, 0 or +1.
//
// The api package's Marker orders marks the same way with code of its own, on purpose: the fake must not
// share logic with the client it tests.
func compareSequenceIDs(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// isDigits reports whether s is a non-empty run of ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
