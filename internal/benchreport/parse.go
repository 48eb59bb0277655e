// Package benchreport reads the output of go test -bench and writes the
// benchmark report: a Markdown page of figures against the project's
// targets, side by side with what they are compared to, and an SVG chart
// of sync and cold start cost against the number of keys.
//
// It knows the benchmark names of this module (internal/benchsuite and
// the *_bench_test.go files of liveness and internal/, and the results
// that TestSim and cmd/benchreport print in the same form: the
// simulator's speed and the commands' binaries) and nothing of how they
// run; cmd/benchreport runs them.
package benchreport

import (
	"bufio"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Result is one benchmark line.
type Result struct {
	// Name is the benchmark's full name without the -GOMAXPROCS suffix,
	// e.g. "BenchmarkSteadySync/face=mgo/keys=1000/changed=0".
	Name string
	// Pkg is the import path the benchmark belongs to.
	Pkg string
	// Pass is the label of the go test invocation that printed it, from
	// the last "pass:" line before it ("" if none).
	Pass string
	// Iterations is b.N of the reported run.
	Iterations int
	// Metrics maps a unit ("ns/op", "allocs/op", "heap-MB", …) to its value.
	Metrics map[string]float64
}

// Run is everything read from one or more go test -bench outputs.
type Run struct {
	// CPU is what the testing package printed on its "cpu:" line.
	CPU string
	// Commit is the revision named by a "commit:" line, which the report
	// run writes first.
	Commit string
	// Passes are the "pass: <label> <command>" lines, in order: the
	// invocations that printed the results.
	Passes []Pass
	// Results are in the order they were first printed. A name printed
	// several times (go test -count) is one result whose every metric is
	// the median of its runs, so that one run disturbed by other work on
	// the machine does not make the figure.
	Results []Result
	byName  map[string]int
	repeats map[string][]Result // every run of a name printed more than once
}

// Pass is one go test invocation of a report run.
type Pass struct {
	Label, Command string
}

// Parse reads go test -bench output. Lines that are not benchmark results
// are skipped, except the pkg:, cpu:, commit: and pass: headers.
func Parse(r io.Reader) (*Run, error) {
	run := &Run{byName: make(map[string]int), repeats: make(map[string][]Result)}
	pkg, pass := "", ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "pkg: "):
			pkg = strings.TrimSpace(strings.TrimPrefix(line, "pkg: "))
		case strings.HasPrefix(line, "commit: "):
			run.Commit = strings.TrimSpace(strings.TrimPrefix(line, "commit: "))
		case strings.HasPrefix(line, "cpu: "):
			run.CPU = strings.TrimSpace(strings.TrimPrefix(line, "cpu: "))
		case strings.HasPrefix(line, "pass: "):
			label, command, _ := strings.Cut(strings.TrimSpace(strings.TrimPrefix(line, "pass: ")), " ")
			pass = label
			run.Passes = append(run.Passes, Pass{label, command})
		case strings.HasPrefix(line, "Benchmark"):
			if res, ok := parseResult(line); ok {
				res.Pkg, res.Pass = pkg, pass
				run.add(res)
			}
		}
	}
	for name, runs := range run.repeats {
		run.Results[run.byName[name]].Metrics = medianMetrics(runs)
	}
	return run, sc.Err()
}

func (run *Run) add(res Result) {
	if i, dup := run.byName[res.Name]; dup {
		if run.repeats[res.Name] == nil {
			run.repeats[res.Name] = []Result{run.Results[i]}
		}
		run.repeats[res.Name] = append(run.repeats[res.Name], res)
		return
	}
	run.byName[res.Name] = len(run.Results)
	run.Results = append(run.Results, res)
}

// medianMetrics returns, for each unit, the median of its values over
// runs (the mean of the middle two for an even count).
func medianMetrics(runs []Result) map[string]float64 {
	values := make(map[string][]float64)
	for _, r := range runs {
		for unit, v := range r.Metrics {
			values[unit] = append(values[unit], v)
		}
	}
	out := make(map[string]float64, len(values))
	for unit, vs := range values {
		slices.Sort(vs)
		mid := len(vs) / 2
		if len(vs)%2 == 1 {
			out[unit] = vs[mid]
		} else {
			out[unit] = (vs[mid-1] + vs[mid]) / 2
		}
	}
	return out
}

// parseResult reads "BenchmarkX/sub-2   100   123 ns/op   4 B/op ...".
func parseResult(line string) (Result, bool) {
	fields := strings.Fields(line)
	if len(fields) < 4 || len(fields)%2 != 0 {
		return Result{}, false
	}
	iterations, err := strconv.Atoi(fields[1])
	if err != nil {
		return Result{}, false
	}
	res := Result{Name: trimProcs(fields[0]), Iterations: iterations, Metrics: make(map[string]float64)}
	for i := 2; i+1 < len(fields); i += 2 {
		v, err := strconv.ParseFloat(fields[i], 64)
		if err != nil {
			return Result{}, false
		}
		res.Metrics[fields[i+1]] = v
	}
	return res, true
}

// trimProcs drops the "-N" GOMAXPROCS suffix the testing package appends.
func trimProcs(name string) string {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return name
	}
	if _, err := strconv.Atoi(name[i+1:]); err != nil {
		return name
	}
	return name[:i]
}

// Metric returns the value of unit in the named result.
func (run *Run) Metric(name, unit string) (float64, bool) {
	i, ok := run.byName[name]
	if !ok {
		return 0, false
	}
	v, ok := run.Results[i].Metrics[unit]
	return v, ok
}

// PassOf returns the label of the pass that printed the named result.
func (run *Run) PassOf(name string) string {
	if i, ok := run.byName[name]; ok {
		return run.Results[i].Pass
	}
	return ""
}
