// Command report reads `go test -bench` output on standard input and prints how the api client compares
// with the net/http floor and the generated client, against the project's targets. It exits 1 when a
// target is missed.
//
// With -count above 1, each figure in the table is the median of its runs, and each ratio is the median
// of the ratios within a run: go test runs every contender once per run, close together in time, so a
// pairwise ratio cancels the host's slow and fast phases that a ratio of medians would mix in.
//
//	go test -run='^$' -bench=. -benchmem -count=6 ./bench/ | go run ./bench/report
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Targets from the performance issue.
const (
	maxRatioToFloor   = 1.12 // api client ns/op over the floor's
	maxExtraAllocs    = 15   // api client allocs/op over the floor's
	maxValidateNanos  = 50
	maxValidateAllocs = 0
)

// A result line: name-P  iterations  X ns/op  [Y B/op  Z allocs/op]
var resultLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op(?:\s+([\d.]+) B/op\s+([\d.]+) allocs/op)?`)

type figures struct{ nsPerOp, allocsPerOp []float64 }

func main() {
	results, order, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(2)
	}
	if len(results) == 0 {
		fmt.Fprintln(os.Stderr, "report: no benchmark results on standard input")
		os.Exit(2)
	}
	ok := true
	check := func(name string, pass bool, format string, args ...any) {
		status := "ok"
		if !pass {
			status, ok = "MISSED", false
		}
		fmt.Printf("  %-6s %-48s %s\n", status, name, fmt.Sprintf(format, args...))
	}
	// ratio is the median over runs of a's ns/op divided by b's in the same run.
	ratio := func(a, b string) float64 {
		fa, fb := results[a], results[b]
		var ratios []float64
		for i := 0; i < len(fa.nsPerOp) && i < len(fb.nsPerOp); i++ {
			ratios = append(ratios, fa.nsPerOp[i]/fb.nsPerOp[i])
		}
		return median(ratios)
	}
	get := func(name string) (ns, allocs float64, found bool) {
		f, found := results[name]
		if !found {
			return 0, 0, false
		}
		return median(f.nsPerOp), median(f.allocsPerOp), true
	}

	fmt.Println("markread benchmarks (median of each benchmark's runs)")
	fmt.Printf("  %-56s %12s %12s\n", "benchmark", "ns/op", "allocs/op")
	for _, name := range order {
		ns, allocs, _ := get(name)
		fmt.Printf("  %-56s %12.1f %12.0f\n", strings.TrimPrefix(name, "Benchmark"), ns, allocs)
	}

	fmt.Println("targets")
	for _, mode := range []string{"", "-parallel"} {
		floorName, genName := "BenchmarkMarkRead/floor-nethttp"+mode, "BenchmarkMarkRead/generated"+mode
		_, floorAllocs, haveFloor := get(floorName)
		_, _, haveGen := get(genName)
		for _, auth := range []string{"api-static-token", "api-token-source"} {
			name := "BenchmarkMarkRead/" + auth + mode
			_, allocs, found := get(name)
			if !found || !haveFloor || !haveGen {
				continue
			}
			short := strings.TrimPrefix(name, "BenchmarkMarkRead/")
			toFloor, toGen := ratio(name, floorName), ratio(name, genName)
			check(short+" vs floor", toFloor <= maxRatioToFloor, "%.3f× the floor's ns/op (target ≤ %.2f×)", toFloor, maxRatioToFloor)
			check(short+" vs generated", toGen < 1, "%.3f× the generated client's ns/op (target < 1)", toGen)
			check(short+" allocs", allocs <= floorAllocs+maxExtraAllocs, "%+.0f allocs/op over the floor (target ≤ +%d)", allocs-floorAllocs, maxExtraAllocs)
		}
	}
	for _, name := range order {
		if !strings.HasPrefix(name, "BenchmarkValidateConversationID/api/") || strings.HasSuffix(name, "/invalid") {
			continue
		}
		ns, allocs, _ := get(name)
		short := strings.TrimPrefix(name, "Benchmark")
		check(short, ns <= maxValidateNanos && allocs <= maxValidateAllocs, "%.1f ns/op, %.0f allocs/op (target ≤ %d ns, %d allocs)", ns, allocs, maxValidateNanos, maxValidateAllocs)
	}
	if !ok {
		os.Exit(1)
	}
}

func parse(r io.Reader) (map[string]*figures, []string, error) {
	results := map[string]*figures{}
	var order []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := resultLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		f, seen := results[m[1]]
		if !seen {
			f = &figures{}
			results[m[1]] = f
			order = append(order, m[1])
		}
		ns, _ := strconv.ParseFloat(m[2], 64)
		f.nsPerOp = append(f.nsPerOp, ns)
		if m[4] != "" {
			allocs, _ := strconv.ParseFloat(m[4], 64)
			f.allocsPerOp = append(f.allocsPerOp, allocs)
		}
	}
	return results, order, sc.Err()
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
