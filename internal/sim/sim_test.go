package sim

import (
	"flag"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

var (
	seedsFlag    = flag.Int("sim.seeds", 8, "how many seeds TestSim runs, from sim.first")
	firstFlag    = flag.Uint64("sim.first", 1, "the first seed TestSim runs")
	seedFlag     = flag.Uint64("sim.seed", 0, "run this one seed, with its trace (replays a failure)")
	durationFlag = flag.Duration("sim.duration", time.Hour, "simulated time of each run")
	opsFromFlag  = flag.Duration("sim.ops.from", 0, "with sim.seed, trace every read and write of slot documents from this simulated time...")
	opsToFlag    = flag.Duration("sim.ops.to", 0, "...until this one")
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
	failed := runSeeds(t, seeds, cfg, func(res Result) {
		t.Errorf("seed %d broke %d promises; replay: go test ./internal/sim -run 'TestSim$' -sim.seed=%d -v\n%s",
			res.Seed, len(res.Violations), res.Seed, report(res, *seedFlag != 0))
	})
	simulated := time.Duration(len(seeds)) * *durationFlag
	t.Logf("%d seeds, %v simulated in %v: %.0f simulated hours per second; %d failed",
		len(seeds), simulated, time.Since(began).Round(time.Millisecond),
		simulated.Hours()/time.Since(began).Seconds(), failed)
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

// report renders a failed run: its violations, the end of its trace (all
// of it kept, when asked), and its figures.
func report(res Result, whole bool) string {
	var b strings.Builder
	for i, v := range res.Violations {
		if i == 10 {
			fmt.Fprintf(&b, "  ... and %d more\n", len(res.Violations)-10)
			break
		}
		fmt.Fprintf(&b, "  %s\n", v)
	}
	trace := res.Trace
	if !whole && len(trace) > 40 {
		trace = trace[len(trace)-40:]
	}
	b.WriteString("  trace:\n")
	for _, line := range trace {
		fmt.Fprintf(&b, "    %s\n", line)
	}
	fmt.Fprintf(&b, "  figures: %s\n", strings.Join(res.Summary, "; "))
	return b.String()
}
