package sim

import (
	"flag"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/presence-go/presence/internal/benchreport"
)

var (
	seedsFlag    = flag.Int("sim.seeds", 8, "how many seeds TestSim runs, from sim.first")
	firstFlag    = flag.Uint64("sim.first", 1, "the first seed TestSim runs")
	seedFlag     = flag.Uint64("sim.seed", 0, "run this one seed, with its trace (replays a failure)")
	durationFlag = flag.Duration("sim.duration", time.Hour, "simulated time of each run")
	opsFromFlag  = flag.Duration("sim.ops.from", 0, "with sim.seed, trace every read and write of slot documents from this simulated time...")
	opsToFlag    = flag.Duration("sim.ops.to", 0, "...until this one")
	benchFlag    = flag.Bool("sim.bench", false, "also print the run's speed to stdout as a go test -bench result, for make bench")
)

// TestSim runs the simulator over seeds, each a run of several controllers
// whose agents start, stop, restart and die through faults of the
// database and of the clocks, and fails with the command that replays
// each seed that broke a promise. make sim runs a thousand seeds; the
// default is a short run for make test.
func TestSim(t *testing.T) {
	seeds := make([]uint64, 0, *seedsFlag)
	if *seedFlag != 0 {
		seeds = append(seeds, *seedFlag)
	} else {
		for i := 0; i < *seedsFlag; i++ {
			seeds = append(seeds, *firstFlag+uint64(i))
		}
	}
	began := time.Now()
	cfg := Config{Duration: *durationFlag, Faults: true}
	if *seedFlag != 0 {
		cfg.TraceLines = 1 << 20 // a replay keeps the whole trace
		cfg.TraceOps.From, cfg.TraceOps.To = *opsFromFlag, *opsToFlag
	}
	traceLines := 40
	switch {
	case *seedFlag != 0:
		traceLines = -1
	case *benchFlag:
		// make bench keeps the output; the replay shows the trace.
		traceLines = 0
	}
	failed := runSeeds(t, seeds, cfg, func(res Result) {
		t.Errorf("seed %d broke %d promises; replay: go test ./internal/sim -run 'TestSim$' -sim.seed=%d -v\n%s",
			res.Seed, len(res.Violations), res.Seed, report(res, traceLines))
	})
	elapsed := time.Since(began)
	simulated := time.Duration(len(seeds)) * *durationFlag
	t.Logf("%d seeds, %v simulated in %v: %.0f simulated hours per second; %d failed",
		len(seeds), simulated, elapsed.Round(time.Millisecond), simulated.Hours()/elapsed.Seconds(), failed)
	if *benchFlag {
		fmt.Print(benchResult(len(seeds), *durationFlag, elapsed, failed))
	}
}

// benchResult renders a run of seeds as go test -bench prints a result,
// with the package header before it, so that make bench reads the
// simulator's speed with the benchmarks (testing/synctest needs the
// *testing.T of a test, so no benchmark can run the simulator). An op is
// one seed's run, of simulated time each; failed counts the seeds that
// broke a promise, whose runs are in the figures too.
func benchResult(seeds int, each, elapsed time.Duration, failed int) string {
	name := fmt.Sprintf("BenchmarkSimulator/seeds=%d", seeds)
	if procs := runtime.GOMAXPROCS(0); procs > 1 {
		name += fmt.Sprintf("-%d", procs) // as the testing package names a result
	}
	hours := float64(seeds) * each.Hours()
	return fmt.Sprintf("pkg: %s\n%s\t%d\t%.0f ns/op\t%.2f sim-hours/s\t%d failed-seeds\n",
		reflect.TypeFor[Config]().PkgPath(), name, seeds, float64(elapsed.Nanoseconds())/float64(seeds),
		hours/elapsed.Seconds(), failed)
}

// runSeeds runs cfg for every seed, as many at once as there are
// processors, each in a bubble of its own, and calls failure for each run
// that found a violation. It returns how many did.
func runSeeds(t *testing.T, seeds []uint64, cfg Config, failure func(Result)) int {
	var (
		next   atomic.Int64
		failed atomic.Int64
		mu     sync.Mutex
		wg     sync.WaitGroup
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if int(i) >= len(seeds) {
					return
				}
				c := cfg
				c.Seed = seeds[i]
				var res Result
				synctest.Test(t, func(*testing.T) { res = Run(c) })
				if len(res.Violations) > 0 {
					failed.Add(1)
					mu.Lock()
					failure(res)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return int(failed.Load())
}

// report renders a failed run: its violations, the last traceLines lines
// of its trace (all of it if traceLines is negative, none if zero), and
// its figures.
func report(res Result, traceLines int) string {
	var b strings.Builder
	for i, v := range res.Violations {
		if i == 10 {
			fmt.Fprintf(&b, "  ... and %d more\n", len(res.Violations)-10)
			break
		}
		fmt.Fprintf(&b, "  %s\n", v)
	}
	if trace := res.Trace; traceLines != 0 {
		if traceLines > 0 && len(trace) > traceLines {
			trace = trace[len(trace)-traceLines:]
		}
		b.WriteString("  trace:\n")
		for _, line := range trace {
			fmt.Fprintf(&b, "    %s\n", line)
		}
	}
	fmt.Fprintf(&b, "  figures: %s\n", strings.Join(res.Summary, "; "))
	return b.String()
}

// TestBenchResult checks that make bench reads the simulator's speed from
// what -sim.bench prints.
func TestBenchResult(t *testing.T) {
	run, err := benchreport.Parse(strings.NewReader(benchResult(200, time.Hour, 25*time.Second, 3)))
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Results) != 1 || run.Results[0].Pkg != "github.com/presence-go/presence/internal/sim" || run.Results[0].Iterations != 200 {
		t.Fatalf("results %+v", run.Results)
	}
	for unit, want := range map[string]float64{"ns/op": 125e6, "sim-hours/s": 8, "failed-seeds": 3} {
		if got, ok := run.Metric("BenchmarkSimulator/seeds=200", unit); !ok || got != want {
			t.Errorf("%s = %v, %v; want %v", unit, got, ok, want)
		}
	}
}
