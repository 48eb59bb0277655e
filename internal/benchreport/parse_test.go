package benchreport

import (
	"bytes"
	"strings"
	"testing"
)

// sample is go test -bench output as a report run prints it, cut down to
// one or two results of each kind the report reads.
const sample = `commit: abc1234
pass: A go test -run '^$' -bench '^(BenchmarkWatcherDecodeDiff)$' ./liveness
goos: linux
pkg: github.com/presence-go/presence/liveness
cpu: AMD EPYC
BenchmarkWatcherDecodeDiff/keys=1000/changed=0-2         	  623637	      2062 ns/op	         0 changes/op	     264 B/op	       6 allocs/op
BenchmarkWatcherDecodeDiff/keys=1000/changed=1%-2        	  113419	     11194 ns/op	        10.00 changes/op	      1119 ns/change	    2148 B/op	      23 allocs/op
BenchmarkWatcherDecodeDiff/keys=100000/changed=0-2       	  355503	      3744 ns/op	         0 changes/op	     264 B/op	       6 allocs/op
BenchmarkWatcherDecodeDiff/keys=100000/changed=1%-2      	    1309	    835155 ns/op	      1000 changes/op	       835.2 ns/change	  230303 B/op	     553 allocs/op
BenchmarkWatcherDecodeDiff/keys=1000000/changed=0-2      	   57145	     28573 ns/op	         0 changes/op	     264 B/op	       6 allocs/op
BenchmarkWatcherDecodeDiff/keys=1000000/changed=1%-2     	     100	  13000000 ns/op	     10000 changes/op	      1300 ns/change	 2292383 B/op	    5053 allocs/op
pkg: github.com/presence-go/presence/internal/livestate
BenchmarkTrackerHeap/keys=1000000-2       	       1	1046585320 ns/op	        73.73 B/key
BenchmarkTrackerHeapBatch/keys=1000000-2  	       1	1860760303 ns/op	        99.66 B/key
pass: B go test -bench '^(BenchmarkPing)$' ./internal/benchsuite
pkg: github.com/presence-go/presence/internal/benchsuite
BenchmarkPing/face=mgo-2  	41683827	        36.55 ns/op	       0 B/op	       0 allocs/op
BenchmarkPing/face=official-2         	33029317	        32.69 ns/op	       0 B/op	       0 allocs/op
BenchmarkMillionPing-2                	15813459	        71.48 ns/op	       0 B/op	       0 allocs/op
BenchmarkVersusJujuSync/impl=juju/keys=1000-2              	       3	    480247 ns/op
BenchmarkVersusJujuSync/impl=presence/keys=1000-2          	       3	     16164 ns/op
pass: C go test -benchtime 3x -bench '^(BenchmarkVersusJujuColdStart)$' ./internal/benchsuite
BenchmarkVersusJujuColdStart/impl=juju/keys=100000-2       	       3	 262741346 ns/op	         8.590 heap-MB
BenchmarkVersusJujuColdStart/impl=presence/keys=100000-2   	       3	 310384069 ns/op	        11.26 heap-MB
pass: D go test -benchtime 1x -bench '^(BenchmarkSteadySync|BenchmarkColdStart)$' ./internal/benchsuite
BenchmarkSteadySync/face=mgo/keys=1000/changed=0-2         	       1	   1550430 ns/op	         1.000 roundtrips/op
--- BENCH: BenchmarkSteadySync/face=mgo/keys=1000/changed=0-2
    faces_bench_test.go:80: seeded 1000 keys in 94ms
BenchmarkSteadySync/face=official/keys=1000/changed=0-2    	       1	   1155006 ns/op	         1.000 roundtrips/op
BenchmarkSteadySync/face=mgo/keys=10000/changed=0-2        	       1	   3000000 ns/op	         1.000 roundtrips/op
BenchmarkSteadySync/face=official/keys=10000/changed=0-2   	       1	   4000000 ns/op	         1.000 roundtrips/op
BenchmarkColdStart/face=mgo/keys=1000-2                    	       1	 102586026 ns/op	         0.1592 heap-MB	         3.000 roundtrips/op
BenchmarkColdStart/face=official/keys=1000-2               	       1	 110000000 ns/op	         0.1580 heap-MB	         3.000 roundtrips/op
BenchmarkColdStart/face=official/keys=1000000-2            	       1	61978001910 ns/op	       100.5 heap-MB	      1002 roundtrips/op
BenchmarkJujuColdStart/keys=1000-2              	       1	  91306501 ns/op	         0.1254 heap-MB	         6.000 roundtrips/op
BenchmarkMillionSlotWrite-2   	       1	4205963991 ns/op	       218.0 doc-KB	         1.000 upserts/op
BenchmarkSteadyWrites/agents=10000/models=1000-2     	       1	10206993009 ns/op	         1.000 mean-writes/doc/slot	       149.2 write-KB/slot	         1.000 writes/doc/slot	        33.33 writes/s
BenchmarkSteadyWrites/agents=1000/models=1-2         	       1	   9295797 ns/op	         1.000 mean-writes/doc/slot	         0.6950 write-KB/slot	         3.000 writes/doc/slot	         0.03333 writes/s
BenchmarkHeartbeatRun/impl=heartbeat/agents=1000-2         	       1	8495385808 ns/op	        83.14 death-max-s	        65.31 death-mean-s	        63.74 death-median-s	        21.00 deaths	         0 false-deaths	         0 missed-deaths	         0 ttl-index	       271.1 write-KB/period	        43.68 writes/s
BenchmarkHeartbeatRun/impl=presence/agents=1000-2          	       1	 246304640 ns/op	        55.71 death-max-s	        42.61 death-mean-s	        40.16 death-median-s	        21.00 deaths	         0 false-deaths	         0 missed-deaths	         0.6920 write-KB/period	         0.03333 writes/s
BenchmarkLoad/agents=10000/models=1000-2         	       1	8477279310 ns/op	        30.49 cpu-ms/s	         0 false-deaths	         0 false-lives	        28.60 kill-max-s	        14.46 kill-mean-s	        16.09 kill-median-s	        25.00 kills	         0 missed-deaths	        38.31 reads/s	         5.107 real-s/period	       250.0 restarts	        19.03 start-s	        80.11 stop-max-s	        63.17 stop-mean-s	        64.44 stop-median-s	        25.00 stops	        34.82 upserts/s	        39.72 writes/s
BenchmarkSharedReader/run=steady/agents=10000/models=1000/reader=per-model-2   	       1	9000000000 ns/op	        30.00 cpu-ms/s	         0 false-deaths	         0 false-lives	         0 missed-deaths	         3.300 prune-reads/s	        36.60 reads/s	         8.000 real-s/period	        33.30 watch-reads/s	        33.30 watch-requests/s	        33.33 writes/s
BenchmarkSharedReader/run=steady/agents=10000/models=1000/reader=shared-2      	       1	4000000000 ns/op	        12.00 cpu-ms/s	         0 false-deaths	         0 false-lives	         0 missed-deaths	         3.300 prune-reads/s	         3.967 reads/s	         2.000 real-s/period	         0.6667 watch-reads/s	         0.06667 watch-requests/s	        33.33 writes/s
BenchmarkSharedReader/run=churn/agents=10000/models=1000/reader=per-model-2    	       1	9000000000 ns/op	        31.00 cpu-ms/s	         0 false-deaths	         0 false-lives	        28.60 kill-max-s	        14.46 kill-mean-s	        16.09 kill-median-s	        25.00 kills	         0 missed-deaths	        80.11 stop-max-s	        63.17 stop-mean-s	        64.44 stop-median-s	        25.00 stops	        35.00 watch-reads/s	        35.00 watch-requests/s
BenchmarkSharedReader/run=churn/agents=10000/models=1000/reader=shared-2       	       1	5000000000 ns/op	        14.00 cpu-ms/s	         0 false-deaths	         1.000 false-lives	        29.00 kill-max-s	        15.00 kill-mean-s	        15.00 kill-median-s	        25.00 kills	         0 missed-deaths	        79.00 stop-max-s	        62.00 stop-mean-s	        63.00 stop-median-s	        25.00 stops	         1.300 watch-reads/s	         0.2000 watch-requests/s
BenchmarkSharedReader/run=poll/agents=100000/models=10000/reader=per-model-2   	       1	400000000000 ns/op	      3221 read-KB/period	     10000 requests/period	     10000 roundtrips/period	      2691 sent-KB/period	         0.3210 sync-read-KB	         1.000 sync-roundtrips
BenchmarkSharedReader/run=poll/agents=100000/models=10000/reader=shared-2      	       1	20000000000 ns/op	      2082 read-KB/period	        20.00 requests/period	       200.0 roundtrips/period	      1150 sent-KB/period	         0.3220 sync-read-KB	         1.000 sync-roundtrips
PASS
pass: E go test -count 1 -run 'TestSim$' -timeout 30m ./internal/sim -sim.seeds=200 -sim.bench
pkg: github.com/presence-go/presence/internal/sim
BenchmarkSimulator/seeds=200-2	200	112500000 ns/op	8.89 sim-hours/s	3 failed-seeds
--- FAIL: TestSim (22.50s)
    sim_test.go:47: seed 11 broke 8 promises; replay: go test ./internal/sim -run 'TestSim$' -sim.seed=11 -v
FAIL
pass: F go build -o <temporary directory>/ ./cmd/presence ./cmd/presence-lab
pkg: github.com/presence-go/presence/cmd/presence
BenchmarkBinarySize/cmd=presence	1	21792158 bytes	0 test-db-modules
pkg: github.com/presence-go/presence/cmd/presence-lab
BenchmarkBinarySize/cmd=presence-lab	1	44000000 bytes	3 test-db-modules
`

func parseSample(t *testing.T) *Run {
	t.Helper()
	run, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	return run
}

func TestParse(t *testing.T) {
	run := parseSample(t)
	if run.CPU != "AMD EPYC" || run.Commit != "abc1234" {
		t.Errorf("cpu %q, commit %q", run.CPU, run.Commit)
	}
	if len(run.Passes) != 6 || run.Passes[3].Label != "D" || !strings.HasPrefix(run.Passes[3].Command, "go test -benchtime 1x") {
		t.Fatalf("passes %+v", run.Passes)
	}
	if ns, _ := run.Metric("BenchmarkPing/face=mgo", "ns/op"); ns != 36.55 {
		t.Errorf("ns/op = %v, want 36.55", ns)
	}
	if got := run.PassOf("BenchmarkColdStart/face=mgo/keys=1000"); got != "D" {
		t.Errorf("pass of a cold start %q, want D", got)
	}
	if got := run.PassOf("BenchmarkTrackerHeap/keys=1000000"); got != "A" {
		t.Errorf("pass of a tracker heap %q, want A", got)
	}
	for name, pkg := range map[string]string{
		"BenchmarkSteadySync/face=official/keys=1000/changed=0": "github.com/presence-go/presence/internal/benchsuite",
		"BenchmarkSimulator/seeds=200":                          "github.com/presence-go/presence/internal/sim",
		"BenchmarkBinarySize/cmd=presence-lab":                  "github.com/presence-go/presence/cmd/presence-lab",
	} {
		for _, r := range run.Results {
			if r.Name == name && r.Pkg != pkg {
				t.Errorf("%s: pkg = %q, want %q", name, r.Pkg, pkg)
			}
		}
	}
	if got := run.PassOf("BenchmarkSimulator/seeds=200"); got != "E" {
		t.Errorf("pass of the simulator %q, want E", got)
	}
	for _, c := range []struct {
		name, unit string
		want       float64
	}{
		{"BenchmarkSimulator/seeds=200", "sim-hours/s", 8.89}, {"BenchmarkSimulator/seeds=200", "failed-seeds", 3},
		{"BenchmarkBinarySize/cmd=presence", "bytes", 21792158}, {"BenchmarkBinarySize/cmd=presence-lab", "test-db-modules", 3},
	} {
		if got, ok := run.Metric(c.name, c.unit); !ok || got != c.want {
			t.Errorf("%s %s = %v, %v; want %v", c.name, c.unit, got, ok, c.want)
		}
	}
}

// TestBinaryResultParses checks that what cmd/benchreport prints of a
// binary reads back as the result the report looks for.
func TestBinaryResultParses(t *testing.T) {
	run, err := Parse(strings.NewReader(BinaryResult("presence", "example.com/cmd/presence", 1234567, 0)))
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Results) != 1 || run.Results[0].Pkg != "example.com/cmd/presence" {
		t.Fatalf("results %+v", run.Results)
	}
	size, ok1 := run.Metric("BenchmarkBinarySize/cmd=presence", "bytes")
	linked, ok2 := run.Metric("BenchmarkBinarySize/cmd=presence", "test-db-modules")
	if !ok1 || !ok2 || size != 1234567 || linked != 0 {
		t.Errorf("size %v, %v; modules %v, %v", size, ok1, linked, ok2)
	}
}

// TestSimulatorTarget checks the verdict on make sim's speed on either
// side of five minutes for a thousand simulated hours.
func TestSimulatorTarget(t *testing.T) {
	for _, c := range []struct {
		rate   string
		want   Status
		secs   string
		failed string
	}{{"8.89", Met, "112.49 s", "0"}, {"3.2", NotMet, "312.50 s", "1"}} {
		run, err := Parse(strings.NewReader("BenchmarkSimulator/seeds=100-2\t100\t1 ns/op\t" + c.rate + " sim-hours/s\t" + c.failed + " failed-seeds\n"))
		if err != nil {
			t.Fatal(err)
		}
		vs := simTargets(run)
		if vs[0].Status != c.want || !strings.Contains(vs[0].Measured, "1,000 seeds in "+c.secs) {
			t.Errorf("at %s simulated hours per second: %s (%s), want %s in %s", c.rate, vs[0].Status, vs[0].Measured, c.want, c.secs)
		}
		if want := statusOf(c.failed == "0"); vs[1].Status != want || !strings.HasPrefix(vs[1].Measured, c.failed+" of 100 seeds") {
			t.Errorf("%s failed seeds: %s (%s), want %s", c.failed, vs[1].Status, vs[1].Measured, want)
		}
	}
	empty, _ := Parse(strings.NewReader(""))
	if vs := simTargets(empty); vs[0].Status != NotMeasured || vs[1].Status != NotMeasured {
		t.Errorf("no simulator run: %+v", vs)
	}
}

// TestRepeatedRunsGiveTheirMedian checks that a benchmark run several
// times (go test -count) is one result, in its first place, whose metrics
// are the medians of its runs.
func TestRepeatedRunsGiveTheirMedian(t *testing.T) {
	out := "BenchmarkA-2  10  30 ns/op  0 allocs/op\n" +
		"BenchmarkB-2  10  5 ns/op\n" +
		"BenchmarkA-2  10  20 ns/op  0 allocs/op\n" +
		"BenchmarkA-2  10  90 ns/op  2 allocs/op\n" +
		"BenchmarkC-2  10  1 ns/op\n" +
		"BenchmarkC-2  10  4 ns/op\n"
	run, err := Parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Results) != 3 || run.Results[0].Name != "BenchmarkA" || run.Results[1].Name != "BenchmarkB" {
		t.Fatalf("results %+v", run.Results)
	}
	for _, c := range []struct {
		name, unit string
		want       float64
	}{{"BenchmarkA", "ns/op", 30}, {"BenchmarkA", "allocs/op", 0}, {"BenchmarkB", "ns/op", 5}, {"BenchmarkC", "ns/op", 2.5}} {
		if got, ok := run.Metric(c.name, c.unit); !ok || got != c.want {
			t.Errorf("%s %s = %v, %v; want %v", c.name, c.unit, got, ok, c.want)
		}
	}
}

func TestFaceRatioAndPerChange(t *testing.T) {
	run := parseSample(t)
	mgo, official, ratio, ok := FaceRatio(run, "BenchmarkColdStart/face=%s/keys=%d", 1000)
	if !ok || mgo != 102586026 || official != 110000000 || ratio < 1.07 || ratio > 1.08 {
		t.Errorf("cold start ratio %v (%v, %v, %v)", ratio, mgo, official, ok)
	}
	if _, _, _, ok := FaceRatio(run, "BenchmarkColdStart/face=%s/keys=%d", 10000); ok {
		t.Error("a ratio of figures never measured")
	}
	ns, ok := PerChange(run, 100000)
	if !ok || ns < 831 || ns > 832 {
		t.Errorf("per change at 100,000 keys: %v, want (835155-3744)/1000", ns)
	}
}

// verdicts returns the sample's verdicts by the start of their target.
func verdicts(t *testing.T) func(prefix string) Verdict {
	vs := Targets(parseSample(t))
	return func(prefix string) Verdict {
		t.Helper()
		var found []Verdict
		for _, v := range vs {
			if strings.HasPrefix(v.Target, prefix) {
				found = append(found, v)
			}
		}
		if len(found) != 1 {
			t.Fatalf("%d targets start with %q", len(found), prefix)
		}
		return found[0]
	}
}

func TestTargetsOnSample(t *testing.T) {
	v := verdicts(t)
	for _, c := range []struct {
		prefix string
		want   Status
	}{
		{"Official face within 1.2× of the mgo face: PingBatcher.Ping", Met},
		// 10,000 keys: ×1.33; 100,000: not measured.
		{"Official face within 1.2× of the mgo face: steady sync", NotMet},
		{"Steady sync CPU, decode + diff with nothing changed, 100,000 keys", Met},
		{"Steady sync CPU, decode + diff with nothing changed, 1,000,000 keys", Met},
		// 1.3 µs at a million keys.
		{"Steady sync CPU, each changed key", NotMet},
		// 3 writes per document at 1,000 agents in one model.
		{"Steady fleet: at most 2 writes", NotMet},
		{"Steady fleet of 10,000 agents in 1,000 models", Met},
		{"One million agents in one model: Ping", NotMet},
		{"One million agents: the slot document", Met},
		{"One million agents: watcher heap", NotMet},
		{"One million agents: cold start", NotMet},
		// 103 ms against the sketch's 91 ms at 1,000 keys.
		{"Never behind Juju's 2019 algorithm: cold start", NotMet},
		{"… heap at most Juju's, database taken out", NotMet},
		// Measured at 1,000 keys only.
		{"… steady sync at least as fast, database taken out", NotMeasured},
		{"Load run, 10,000 agents in 1,000 models with restarts", Met},
		{"Against one heartbeat document per agent", Info},
		{"Watchers sharing their reads, steady fleet", Met},
		{"… controller CPU per second not higher than with per-model watchers", Met},
		// One false life in the shared churn run.
		{"… with restarts, kills and quiet stops", NotMet},
		{"100,000 agents in 10,000 models: round trips", Info},
		{"… Sync of one model's watcher", Met},
		// 1,000 seeds in 112 s.
		{"`make sim`: 1,000 seeds of a simulated hour each", Met},
		// 3 of 200 seeds broke a promise.
		{"… every seed keeps every promise", NotMet},
		{"The operator's binary links no test database", Met},
	} {
		if got := v(c.prefix); got.Status != c.want {
			t.Errorf("%s: %s (%s), want %s", c.prefix, got.Status, got.Measured, c.want)
		}
	}
	if got := v("Official face within 1.2× of the mgo face: cold start"); got.Status != NotMeasured || !strings.Contains(got.Measured, "1,000: ×1.07") {
		t.Errorf("cold start faces: %s (%s), want not measured with the 1,000-key ratio", got.Status, got.Measured)
	}
}

func TestWriteMarkdown(t *testing.T) {
	var page bytes.Buffer
	err := WriteMarkdown(&page, Report{Machine: Machine{CPU: "AMD EPYC", Cores: 2, Command: "make bench"}, Run: parseSample(t), Chart: "chart.svg"})
	if err != nil {
		t.Fatal(err)
	}
	md := page.String()
	for _, want := range []string{
		"## Targets", "## The two faces side by side", "## Steady sync: CPU in proportion to what changed",
		"## Writes of a steady fleet", "## One million agents in one model", "## Against Juju's 2019 watcher",
		"## Against one heartbeat document per agent", "## Load run", "## All figures", "## How the figures were taken",
		"## Not measured, and why", "## What the figures show, and what to fix",
		"- [D] `go test -benchtime 1x", "`BenchmarkColdStart/face=*/keys=N` [D]", "![sync and cold start cost vs keys](chart.svg)",
		"| 1,000,000 | 28.6 µs |", "never expire", "keeps 100 bytes per key where one filled key by key keeps 74",
		"takes 1002 round trips",
		"## Shared reads: one poll a period for a controller's watchers",
		"| poll | round trips in a period | 10,000 | 200 |", "| churn | kill → Change, mean / most (s) | 14.5 s / 28.6 s | 15.0 s / 29.0 s |",
		"`BenchmarkSharedReader/run=R/agents=A/models=M/reader=*` [D]",
		"## The simulator: simulated hours per second", "`BenchmarkSimulator/seeds=200` [E]",
		"| Simulated hours per second | 8.89 |", "| Wall time of the run | 22.50 s |",
		"| `make sim`'s 1,000 seeds at that speed (target: under five minutes on two cores) | 112.49 s |",
		"| Seeds that broke a promise | 3 of 200 |", "under pass [E]", "**3 of 200 seeds of the simulator broke a promise.** Pass [E]",
		"| 17 | `make sim`: 1,000 seeds", "8.89 simulated hours per second over 200 seeds",
		"## The commands' binaries", "`BenchmarkBinarySize/cmd=*` [F]",
		"| `presence` | 21,792,158 bytes | 0 |", "| `presence-lab` | 44,000,000 bytes | 3 |",
		"| `presence` before the split (reference) | 43,699,102 bytes |",
		"| 18 | The operator's binary links no test database",
		"| `BenchmarkBinarySize/cmd=presence` | cmd/presence | F | 1 | — | 21792158 bytes, 0 test-db-modules |",
		"- [E] `go test -count 1 -run 'TestSim$'", "- [F] `go build -o <temporary directory>/ ./cmd/presence ./cmd/presence-lab`",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

func TestWriteSVG(t *testing.T) {
	var chart bytes.Buffer
	if err := WriteSVG(&chart, parseSample(t)); err != nil {
		t.Fatal(err)
	}
	svg := chart.String()
	for _, want := range []string{"<svg", "1,000,000", "Steady sync, nothing changed", "Cold start (first sync)", "<polyline"} {
		if !strings.Contains(svg, want) {
			t.Errorf("the chart lacks %q", want)
		}
	}
	if strings.Count(svg, "<svg") != 1 || !strings.HasSuffix(svg, "</svg>\n") {
		t.Error("the chart is not one SVG document")
	}
	chart.Reset()
	empty, _ := Parse(strings.NewReader(""))
	if err := WriteSVG(&chart, empty); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(chart.String(), "(not measured)") || strings.Contains(chart.String(), "<polyline") {
		t.Error("a chart of nothing draws lines or does not say so")
	}
}

func TestTrimProcs(t *testing.T) {
	for in, want := range map[string]string{
		"BenchmarkX-2":            "BenchmarkX",
		"BenchmarkX/keys=1000-16": "BenchmarkX/keys=1000",
		"BenchmarkX/a-b":          "BenchmarkX/a-b",
		"BenchmarkX":              "BenchmarkX",
	} {
		if got := trimProcs(in); got != want {
			t.Errorf("trimProcs(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDecade(t *testing.T) {
	for d, want := range map[float64]string{0: "1 ns", 4: "10 µs", 6: "1 ms", 8: "100 ms", 9: "1 s", 11: "100 s"} {
		if got := decade(d); got != want {
			t.Errorf("decade(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestCountAndNum(t *testing.T) {
	for n, want := range map[int]string{1: "1", 1000: "1,000", 1000000: "1,000,000"} {
		if got := count(n); got != want {
			t.Errorf("count(%d) = %q, want %q", n, got, want)
		}
	}
	for x, want := range map[float64]string{0: "0", 0.0333: "0.033", 3.3333: "3.33", 33.33: "33.3", 444.4: "444"} {
		if got := num(x); got != want {
			t.Errorf("num(%v) = %q, want %q", x, got, want)
		}
	}
}
