package benchreport

import (
	"strings"
	"testing"
)

const sample = `goos: linux
pkg: github.com/presence-go/presence
cpu: AMD EPYC
BenchmarkPingBatcherPing-2           	18129207	        68.27 ns/op	       0 B/op	       0 allocs/op
BenchmarkPingBatcherFlush/agents=1000-2         	       5	  10310253 ns/op	         1.000 updatecmds/flush	         1.000 upserts/flush	  133832 B/op	    2288 allocs/op
    presence_bench_test.go:244: a log line
PASS
`

func TestParse(t *testing.T) {
	run, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if run.CPU != "AMD EPYC" || len(run.Results) != 2 {
		t.Fatalf("got cpu %q and %d results", run.CPU, len(run.Results))
	}
	if ns, _ := run.Metric("BenchmarkPingBatcherPing", "ns/op"); ns != 68.27 {
		t.Errorf("ns/op = %v, want 68.27", ns)
	}
	if up, _ := run.Metric("BenchmarkPingBatcherFlush/agents=1000", "upserts/flush"); up != 1 {
		t.Errorf("upserts/flush = %v, want 1", up)
	}
	if run.Results[1].Pkg != "github.com/presence-go/presence" {
		t.Errorf("pkg = %q", run.Results[1].Pkg)
	}
}

func TestTargetsOnSample(t *testing.T) {
	run, _ := Parse(strings.NewReader(sample))
	for _, v := range Targets(run) {
		switch v.Benchmark {
		case "BenchmarkPingBatcherPing", "BenchmarkPingBatcherFlush/agents=1000":
			if v.Status != Met {
				t.Errorf("%s: %s (%s), want met", v.Target, v.Status, v.Measured)
			}
		case "BenchmarkPingBatcherFlush/agents=1":
			if v.Status != NotMeasured {
				t.Errorf("%s: %s, want not measured", v.Target, v.Status)
			}
		}
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
