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
	}
	for _, tt := range tests {
		if got := compareSequenceIDs(tt.a, tt.b); got != tt.want {
			t.Errorf("compareSequenceIDs(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

// FuzzCompareSequenceIDs checks that the order agrees with arbitrary-precision arithmetic on the
// sequence IDs the server accepts (ASCII digits), so that "a lower sequence ID never moves the mark back"
// holds for any of them.
func FuzzCompareSequenceIDs(f *testing.F) {
	for _, seed := range [][2]string{{"9", "10"}, {"007", "7"}, {"0", "0"}, {"18446744073709551616", "1"}} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if !isDigits(a) || !isDigits(b) {
			t.Skip("the server refuses other sequence IDs before comparing")
		}
		x, _ := new(big.Int).SetString(a, 10)
		y, _ := new(big.Int).SetString(b, 10)
		if got, want := compareSequenceIDs(a, b), x.Cmp(y); got != want {
			t.Fatalf("compare(%q, %q) = %d, want %d", a, b, got, want)
		}
	})
}
