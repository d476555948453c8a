// Package bench holds markread's benchmarks: the api client, the generated client it wraps and a
// hand-written net/http floor, side by side against one loopback server. Run them with `make bench`;
// BENCHMARKS.md has the figures and how to read them.
package bench
