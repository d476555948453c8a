package apitest

import (
	"math/big"
	"testing"
)

func TestCompareSequenceIDs(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"9", "10", -1},
		{"10", "9", 1},
		{"10", "10", 0},
		{"007", "7", 0},
		{"0", "000", 0},
		{"18446744073709551616", "18446744073709551615", 1}, // past uint64
		{"123456789012345678901234567890", "99", 1},
		{"99999999999999999999", "abc", -1}, // every number sorts before any other string
		{"abc", "1", 1},
		{"abc", "abd", -1},
		{"b", "abc", 1},
		{"-1", "-2", -1}, // not numeric here: compared byte by byte
	}
	for _, tt := range tests {
		if got := compareSequenceIDs(tt.a, tt.b); got != tt.want {
			t.Errorf("compareSequenceIDs(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

// FuzzCompareSequenceIDs checks that the order is antisymmetric and agrees with arbitrary-precision
// arithmetic on numeric IDs, so that "a lower sequence ID never moves the mark back" holds for any input.
func FuzzCompareSequenceIDs(f *testing.F) {
	for _, seed := range [][2]string{{"9", "10"}, {"007", "7"}, {"abc", "1"}, {"", "0"}, {"18446744073709551616", "1"}} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ab, ba := compareSequenceIDs(a, b), compareSequenceIDs(b, a)
		if ab != -ba {
			t.Fatalf("compare(%q, %q) = %d but compare(%q, %q) = %d", a, b, ab, b, a, ba)
		}
		if isDigits(a) && isDigits(b) {
			x, _ := new(big.Int).SetString(a, 10)
			y, _ := new(big.Int).SetString(b, 10)
			if want := x.Cmp(y); ab != want {
				t.Fatalf("compare(%q, %q) = %d, want %d", a, b, ab, want)
			}
		}
	})
}
