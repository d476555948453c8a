// Package plural writes counts of things in English, for messages: "1 attempt", "3 attempts".
package plural

import "strconv"

// Count returns n and noun, with an "s" unless n is 1.
func Count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
