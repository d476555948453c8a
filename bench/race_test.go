//go:build race

package bench

// raceEnabled is set when the tests run under the race detector, which makes a million sends take
// minutes.
const raceEnabled = true
