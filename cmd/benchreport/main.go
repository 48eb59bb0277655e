// Command benchreport runs the module's benchmarks and the simulator,
// builds the commands, and writes BENCHMARKS.md, the raw output
// (benchmarks.txt, for benchstat) and an SVG chart of the watcher's sync
// and cold start cost against the number of keys. It is what make bench
// runs; with -from it only renders an existing raw output.
package main

import (
	"bufio"
	"bytes"
	"debug/buildinfo"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/presence-go/presence/internal/benchreport"
)

// pass is one go test invocation of a report run.
type pass struct {
	label string
	args  []string
	// finding says that the pass failing is a figure of the report (the
	// simulator's seeds that broke a promise), not a broken run, as long
	// as it printed its result.
	finding bool
}

// passes are the go test invocations of a report run: the CPU-bound
// benchmarks take the default benchtime or a few runs (Ping's, some tens
// of nanoseconds, five runs each, of which the report shows the median);
// those that go
// through the test server run once each, in one process, since the fleets
// they share are seeded once per process. The whole run takes about half
// an hour on two cores, a third of it the shared reader's runs, whose
// per-model watchers read ten thousand models one by one. The simulator's
// pass, [E], is TestSim printing its speed as a benchmark result
// (testing/synctest needs a test's *testing.T), two hundred seeds in well
// under a minute.
var passes = []pass{
	{"A", []string{"test", "-run", "^$", "-benchmem", "-count", "1",
		"-bench", "^(BenchmarkWatcherDecodeDiff|BenchmarkSlotDecode|BenchmarkPingSketchParallel|BenchmarkPingShardedSketchParallel|BenchmarkTrackerHeap|BenchmarkTrackerHeapBatch|BenchmarkDecode)$",
		"./liveness", "./internal/livestate", "./internal/layout"}, false},
	{"B", []string{"test", "-run", "^$", "-benchmem", "-count", "5",
		"-bench", "^(BenchmarkPing|BenchmarkPingParallel|BenchmarkMillionPing|BenchmarkMillionPingShuffled|BenchmarkVersusJujuSync)$",
		"./internal/benchsuite"}, false},
	{"C", []string{"test", "-run", "^$", "-benchmem", "-count", "1", "-benchtime", "3x",
		"-bench", "^(BenchmarkVersusJujuColdStart|BenchmarkBatcherHeap)$",
		"./internal/benchsuite"}, false},
	{"D", []string{"test", "-run", "^$", "-count", "1", "-benchtime", "1x", "-timeout", "60m",
		"-bench", "^(BenchmarkSteadySync|BenchmarkColdStart|BenchmarkJujuColdStart|BenchmarkMillionSlotWrite|BenchmarkSteadyWrites|BenchmarkHeartbeatRun|BenchmarkHeartbeatSync|BenchmarkLoad|BenchmarkSharedReader)$",
		"./internal/benchsuite"}, false},
	// -v: go test shows what a package that passes printed only with it.
	{"E", []string{"test", "-v", "-count", "1", "-run", "TestSim$", "-timeout", "30m",
		"./internal/sim", "-sim.seeds=200", "-sim.bench"}, true},
}

// binariesLabel is the label of the last step of a run, which builds the
// commands and measures their binaries.
const binariesLabel = "F"

func main() {
	from := flag.String("from", "", "render this raw go test -bench output instead of running the benchmarks")
	raw := flag.String("raw", "benchmarks.txt", "where to write the raw output of a run")
	md := flag.String("md", "BENCHMARKS.md", "the report to write")
	svg := flag.String("svg", "benchmarks-sync.svg", "the chart to write")
	flag.Parse()
	if err := run(*from, *raw, *md, *svg); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

func run(from, rawPath, mdPath, svgPath string) error {
	var output []byte
	if from != "" {
		data, err := os.ReadFile(from)
		if err != nil {
			return err
		}
		output = data
	} else {
		var all bytes.Buffer
		// Name the revision before the run rewrites the generated files.
		fmt.Fprintf(&all, "commit: %s\n", commit())
		for _, p := range passes {
			if err := runPass(&all, p); err != nil {
				os.WriteFile(rawPath, all.Bytes(), 0o644)
				return err
			}
		}
		if err := measureBinaries(&all); err != nil {
			os.WriteFile(rawPath, all.Bytes(), 0o644)
			return err
		}
		output = all.Bytes()
		if err := os.WriteFile(rawPath, output, 0o644); err != nil {
			return err
		}
	}
	results, err := benchreport.Parse(bytes.NewReader(output))
	if err != nil {
		return err
	}
	machine := benchreport.Machine{
		CPU:       cpuModel(results.CPU),
		Cores:     runtime.NumCPU(),
		GoVersion: runtime.Version(),
		OS:        runtime.GOOS,
		Arch:      runtime.GOARCH,
		Database:  database(),
		Date:      time.Now().UTC().Format("2006-01-02 15:04 MST"),
		Command:   "make bench",
		Commit:    results.Commit,
	}
	var page bytes.Buffer
	if err := benchreport.WriteMarkdown(&page, benchreport.Report{Machine: machine, Run: results, Chart: svgPath}); err != nil {
		return err
	}
	var chart bytes.Buffer
	if err := benchreport.WriteSVG(&chart, results); err != nil {
		return err
	}
	if err := os.WriteFile(mdPath, page.Bytes(), 0o644); err != nil {
		return err
	}
	return os.WriteFile(svgPath, chart.Bytes(), 0o644)
}

// runPass runs one go test invocation, its output to all and to stdout.
func runPass(all *bytes.Buffer, p pass) error {
	command := "go " + strings.Join(quoteAll(p.args), " ")
	fmt.Fprintf(all, "pass: %s %s\n", p.label, command)
	fmt.Fprintf(os.Stderr, "+ [%s] %s\n", p.label, command)
	var out bytes.Buffer
	cmd := exec.Command("go", p.args...)
	cmd.Stdout = io.MultiWriter(all, &out, os.Stdout)
	cmd.Stderr = os.Stderr
	if err := judgePass(p, out.Bytes(), cmd.Run()); err != nil {
		return fmt.Errorf("%s: %w", command, err)
	}
	return nil
}

// judgePass says whether a pass that ran, with the output and error it
// had, gave the report its figures: a pass that printed no result failed,
// even if go test did not (a passing package's output is shown only with
// -v), and a pass whose failure is a finding counts when it printed its
// result.
func judgePass(p pass, out []byte, runErr error) error {
	printed, err := benchreport.Parse(bytes.NewReader(out))
	results := err == nil && len(printed.Results) > 0
	switch {
	case runErr == nil && results:
		return nil
	case runErr == nil:
		return errors.New("printed no benchmark result")
	case p.finding && results:
		fmt.Fprintf(os.Stderr, "benchreport: [%s] failed (%v); the report shows what it found\n", p.label, runErr)
		return nil
	}
	return runErr
}

// measureBinaries builds the commands into a temporary directory and
// prints, as benchmark results, each binary's size and how many modules
// of the test database its build information names.
func measureBinaries(all *bytes.Buffer) error {
	dir, err := os.MkdirTemp("", "benchreport-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	for _, name := range benchreport.Binaries {
		args = append(args, "./cmd/"+name)
	}
	command := "go build -o <temporary directory>/ " + strings.Join(args[3:], " ")
	fmt.Fprintf(all, "pass: %s %s\n", binariesLabel, command)
	fmt.Fprintf(os.Stderr, "+ [%s] %s\n", binariesLabel, command)
	cmd := exec.Command("go", args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", command, err)
	}
	for _, name := range benchreport.Binaries {
		path := filepath.Join(dir, name)
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		info, err := buildinfo.ReadFile(path)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		linked := 0
		for _, dep := range info.Deps {
			if slices.Contains(benchreport.TestDatabaseModules, dep.Path) {
				linked++
			}
		}
		result := benchreport.BinaryResult(name, info.Path, st.Size(), linked)
		all.WriteString(result)
		os.Stdout.WriteString(result)
	}
	return nil
}

func quoteAll(args []string) []string {
	quoted := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, "^$|() ") {
			a = "'" + a + "'"
		}
		quoted[i] = a
	}
	return quoted
}

// cpuModel reads the model name from /proc/cpuinfo, falling back on what
// the testing package printed.
func cpuModel(fallback string) string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return fallback
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(name) == "model name" {
			return strings.TrimSpace(value)
		}
	}
	return fallback
}

func database() string {
	if os.Getenv("PRESENCE_TEST_MONGODB") != "" {
		return "external server named by PRESENCE_TEST_MONGODB (no bridge: round trips and writes not counted)"
	}
	return "FerretDB v1.24.2, SQLite handler, in a child process, behind the wire bridge (internal/benchsuite)"
}

// commit names the revision measured, if git can tell, with "+changes"
// when tracked files differ from it.
func commit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	rev := strings.TrimSpace(string(out))
	status, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output()
	if err == nil && len(bytes.TrimSpace(status)) > 0 {
		rev += "+changes"
	}
	return rev
}
