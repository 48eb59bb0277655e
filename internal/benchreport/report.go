package benchreport

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// Machine describes where the benchmarks ran.
type Machine struct {
	CPU       string // model name, from /proc/cpuinfo
	Cores     int    // logical CPUs
	GoVersion string
	OS, Arch  string
	Database  string // what the end-to-end benchmarks ran against
	Date      string // when, UTC
	Command   string // how to reproduce
	Commit    string // the revision measured, with "+changes" if the tree was not clean
}

// Status says whether a target was met.
type Status string

const (
	Met         Status = "met"
	NotMet      Status = "**not met**"
	NotMeasured Status = "not measured"
	// Sketch marks the figure of a suggested fix, measured on a copy of
	// the code in a benchmark file, not on the library; shown only while
	// the target it addresses is not met.
	Sketch Status = "fix sketch, not in the library"
	// Info marks a figure the issue asks for without a target.
	Info Status = "measured (no target)"
)

// Verdict is one target with the figure measured for it.
type Verdict struct {
	Target    string
	Benchmark string
	Measured  string
	Status    Status
}

// Sizes are the fleet sizes of the scaling curve.
var Sizes = []int{1000, 10000, 100000}

// linearSlack is how much more than tenfold a tenfold larger fleet may
// cost and still count as linear: fixed costs shrink, caches get colder.
const linearSlack = 1.25

// Targets checks the figures of run against the targets of the issue.
func Targets(run *Run) []Verdict {
	var vs []Verdict
	check := func(target, name, unit string, ok func(float64) bool, show func(float64) string) {
		v := Verdict{Target: target, Benchmark: name, Status: NotMeasured, Measured: "—"}
		if x, found := run.Metric(name, unit); found {
			v.Measured = show(x)
			v.Status = statusOf(ok(x))
		}
		vs = append(vs, v)
	}

	for _, name := range []string{"BenchmarkPingBatcherPing", "BenchmarkPingBatcherPingParallel"} {
		target := "PingBatcher.Ping, same model and slot: ≤ 100 ns/op, 0 allocs/op"
		if strings.HasSuffix(name, "Parallel") {
			target = "PingBatcher.Ping, 8 goroutines (RunParallel): ≤ 100 ns/op, 0 allocs/op"
		}
		v := Verdict{Target: target, Benchmark: name, Status: NotMeasured, Measured: "—"}
		ns, okNs := run.Metric(name, "ns/op")
		allocs, okAllocs := run.Metric(name, "allocs/op")
		if okNs && okAllocs {
			v.Measured = fmt.Sprintf("%.1f ns/op, %g allocs/op", ns, allocs)
			v.Status = statusOf(ns <= 100 && allocs == 0)
		}
		vs = append(vs, v)
	}
	if ns, ok := run.Metric("BenchmarkPingShardedSketchParallel", "ns/op"); ok && vs[len(vs)-1].Status == NotMet {
		vs = append(vs, Verdict{
			Target:    "… the same with the pending state split into 8 locked shards",
			Benchmark: "BenchmarkPingShardedSketchParallel",
			Measured:  fmt.Sprintf("%.1f ns/op", ns),
			Status:    Sketch,
		})
	}
	for _, n := range []int{1, 1000, 100000} {
		agents := count(n) + " agents"
		if n == 1 {
			agents = "1 agent"
		}
		check("One upsert per (model, slot) per flush, "+agents,
			fmt.Sprintf("BenchmarkPingBatcherFlush/agents=%d", n), "upserts/flush",
			func(x float64) bool { return x == 1 },
			func(x float64) string { return fmt.Sprintf("%g upserts/flush", x) })
	}
	check("Steady sync, 100,000 keys, nothing changed: ≤ 2 round trips",
		"BenchmarkWatcherSync/keys=100000/changed=0", "roundtrips/op",
		func(x float64) bool { return x <= 2 },
		func(x float64) string { return fmt.Sprintf("%g round trips/sync", x) })
	check("Steady sync, 100,000 keys, nothing changed: ≤ 5 ms CPU decoding + diffing",
		"BenchmarkWatcherDecodeDiff/keys=100000/changed=0", "ns/op",
		func(x float64) bool { return x <= 5e6 },
		func(x float64) string { return duration(x) })
	if ns, ok := run.Metric("BenchmarkWatcherDecodeDiffWalk/keys=100000/changed=0", "ns/op"); ok && vs[len(vs)-1].Status == NotMet {
		vs = append(vs, Verdict{
			Target:    "… the same with the slot documents decoded by walking their raw BSON",
			Benchmark: "BenchmarkWatcherDecodeDiffWalk/keys=100000/changed=0",
			Measured:  duration(ns),
			Status:    Sketch,
		})
	}
	vs = append(vs, proportional(run))
	check("Cold start over 100,000 unknown sequences: ≤ 100 batched lookups",
		"BenchmarkWatcherColdStartLookups/keys=100000", "lookups/op",
		func(x float64) bool { return x <= 100 },
		func(x float64) string { return fmt.Sprintf("%g lookups", x) })
	check("Heap of a watcher following 100,000 keys: ≤ 40 MB",
		"BenchmarkWatcherHeap/keys=100000", "heap-MB",
		func(x float64) bool { return x <= 40 },
		func(x float64) string { return fmt.Sprintf("%.1f MB", x) })
	check("Heap of a batcher holding one slot of 100,000 agents: ≤ 2 MB",
		"BenchmarkPingBatcherHeap/agents=100000", "heap-MB",
		func(x float64) bool { return x <= 2 },
		func(x float64) string { return fmt.Sprintf("%.3f MB", x) })
	const load = "BenchmarkLoad/agents=300/models=3"
	if ns, ok := run.Metric(load, "ns/op"); ok {
		upserts, _ := run.Metric(load, "upserts/flush")
		starts, _ := run.Metric(load, "starts/s")
		vs = append(vs, Verdict{
			Target:    "Load run, 300 real pingers in 3 models, one batcher, a watcher per model: kill → Change delay (watcher synced at once), writes per flush, pinger starts/s",
			Benchmark: load,
			Measured:  fmt.Sprintf("%s per kill; %g upserts/flush (= writes/s at the default 1 s flush); %.0f starts/s", duration(ns), upserts, starts),
			Status:    Info,
		})
	}
	vs = append(vs,
		scaling(run, "Scaling: steady sync (end to end) grows linearly or better", "BenchmarkWatcherSync/keys=%d/changed=0"),
		scaling(run, "Scaling: steady sync decode + diff CPU grows linearly or better", "BenchmarkWatcherDecodeDiff/keys=%d/changed=0"),
		scaling(run, "Scaling: cold start grows linearly or better", "BenchmarkWatcherColdStart/keys=%d"),
	)
	return vs
}

func statusOf(ok bool) Status {
	if ok {
		return Met
	}
	return NotMet
}

// proportional checks that with 1% of the keys changed the extra time per
// changed key, in the watcher's pure sync logic, stays about the same from
// 10,000 to 100,000 keys (within perChangeSlack, for the cache misses of
// larger maps), where a cost in proportion to the fleet would grow tenfold.
func proportional(run *Run) Verdict {
	const pattern = "BenchmarkSyncLogic/keys=%d/changed=%s"
	v := Verdict{
		Target:    "Steady sync, 1% of keys changed: extra time per changed key independent of the fleet (within ×4 from 10k to 100k)",
		Benchmark: "BenchmarkSyncLogic/keys=N/changed=1%",
		Status:    NotMeasured,
		Measured:  "—",
	}
	perChange := map[int]float64{}
	var parts []string
	for _, n := range []int{10000, 100000} {
		base, ok1 := run.Metric(fmt.Sprintf(pattern, n, "0"), "ns/op")
		churn, ok2 := run.Metric(fmt.Sprintf(pattern, n, "1%"), "ns/op")
		changes, ok3 := run.Metric(fmt.Sprintf(pattern, n, "1%"), "changes/op")
		if !ok1 || !ok2 || !ok3 || changes == 0 {
			return v
		}
		perChange[n] = (churn - base) / changes
		parts = append(parts, fmt.Sprintf("%s keys: %s + %s for %g changes (%s each)",
			count(n), duration(base), duration(churn-base), changes, duration(perChange[n])))
	}
	v.Measured = strings.Join(parts, "; ")
	v.Status = statusOf(perChange[100000] <= perChangeSlack*max(perChange[10000], 1))
	return v
}

// perChangeSlack is how much dearer a change may get in a ten times larger
// fleet and still count as independent of it.
const perChangeSlack = 4

// scaling checks that each tenfold larger fleet costs at most about
// tenfold more.
func scaling(run *Run, target, pattern string) Verdict {
	v := Verdict{Target: target, Benchmark: fmt.Sprintf(pattern, 0), Status: NotMeasured, Measured: "—"}
	v.Benchmark = strings.Replace(v.Benchmark, "=0", "=N", 1)
	var costs []float64
	var sizes []int
	for _, n := range Sizes {
		if ns, ok := run.Metric(fmt.Sprintf(pattern, n), "ns/op"); ok {
			costs, sizes = append(costs, ns), append(sizes, n)
		}
	}
	if len(costs) < 2 {
		return v
	}
	ok := true
	var parts []string
	for i, ns := range costs {
		part := fmt.Sprintf("%s: %s", count(sizes[i]), duration(ns))
		if i > 0 {
			ratio := ns / costs[i-1]
			part += fmt.Sprintf(" (×%.1f)", ratio)
			ok = ok && ratio <= float64(sizes[i])/float64(sizes[i-1])*linearSlack
		}
		parts = append(parts, part)
	}
	if len(sizes) < len(Sizes) {
		parts = append(parts, "larger sizes not timed")
	}
	v.Measured = strings.Join(parts, ", ")
	v.Status = statusOf(ok)
	return v
}

// count writes n with thousands separators.
func count(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// duration renders nanoseconds in the unit that reads best.
func duration(ns float64) string {
	switch {
	case ns >= 1e9:
		return fmt.Sprintf("%.2f s", ns/1e9)
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	}
	return fmt.Sprintf("%.1f ns", ns)
}

// WriteMarkdown writes the report page. chart is the file name of the SVG
// chart beside it; notes are paragraphs added at the end (what was not
// measured, and why).
func WriteMarkdown(w io.Writer, m Machine, run *Run, chart string, notes []string) error {
	var b strings.Builder
	b.WriteString("# Benchmarks\n\n")
	b.WriteString("Generated by `make bench` (`go run ./cmd/benchreport`); do not edit by hand. ")
	b.WriteString("The raw `go test -bench` output is in `benchmarks.txt`, for `benchstat`.\n\n")
	b.WriteString("## Machine\n\n")
	fmt.Fprintf(&b, "| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| CPU | %s |\n| Cores | %d |\n| Go | %s %s/%s |\n| Database | %s |\n| Date | %s |\n| Commit | %s |\n| Command | `%s` |\n\n",
		m.CPU, m.Cores, m.GoVersion, m.OS, m.Arch, m.Database, m.Date, orUnknown(m.Commit), m.Command)

	b.WriteString("## Targets\n\n| Target | Measured | Status | Benchmark |\n|---|---|---|---|\n")
	for _, v := range Targets(run) {
		fmt.Fprintf(&b, "| %s | %s | %s | `%s` |\n", v.Target, v.Measured, v.Status, v.Benchmark)
	}

	fmt.Fprintf(&b, "\n## Sync cost against the number of keys\n\n![sync cost vs keys](%s)\n\n", chart)
	b.WriteString("Log–log axes; a slope of one decade per decade is linear growth.\n\n")

	b.WriteString("## All figures\n\n| Benchmark | Package | Runs | Time/op | Other |\n|---|---|---|---|---|\n")
	for _, res := range run.Results {
		fmt.Fprintf(&b, "| `%s` | %s | %d | %s | %s |\n", res.Name, shortPkg(res.Pkg), res.Iterations, timeOf(res), others(res))
	}
	for _, note := range notes {
		b.WriteString("\n" + note + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func shortPkg(pkg string) string {
	const module = "github.com/presence-go/presence"
	if pkg == module {
		return "presence"
	}
	return strings.TrimPrefix(pkg, module+"/")
}

func timeOf(res Result) string {
	ns, ok := res.Metrics["ns/op"]
	if !ok {
		return "—"
	}
	return duration(ns)
}

func others(res Result) string {
	units := make([]string, 0, len(res.Metrics))
	for unit := range res.Metrics {
		if unit != "ns/op" {
			units = append(units, unit)
		}
	}
	sort.Strings(units)
	parts := make([]string, len(units))
	for i, unit := range units {
		parts[i] = fmt.Sprintf("%g %s", res.Metrics[unit], unit)
	}
	return strings.Join(parts, ", ")
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
