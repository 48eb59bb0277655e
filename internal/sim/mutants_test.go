//go:build presence_mutants

package sim

import (
	"flag"
	"testing"
	"testing/synctest"
	"time"

	"github.com/presence-go/presence/internal/mutate"
)

var mutantSeedsFlag = flag.Int("sim.mutant.seeds", 40, "the most seeds the mutation test runs for each defect before it gives up")

// TestSimFindsEveryDefect puts back, one at a time, each defect that
// reviews found in the engine (see internal/mutate), and checks that the
// simulator reports a violation within a bounded number of seeds. Built
// only with the tag presence_mutants: make sim runs it.
func TestSimFindsEveryDefect(t *testing.T) {
	defer mutate.Set(mutate.None)
	seeds := make([]uint64, *mutantSeedsFlag)
	for i := range seeds {
		seeds[i] = uint64(i + 1)
	}
	// A violation counts only if the code without the defect has none on
	// the same seeds.
	mutate.Set(mutate.None)
	if clean := runSeeds(t, seeds, Config{Duration: time.Hour, Faults: true}, func(res Result) {
		t.Errorf("seed %d broke %d promises with no defect put back:\n%s", res.Seed, len(res.Violations), report(res, 20))
	}); clean != 0 {
		return
	}
	for _, m := range mutate.All() {
		mutate.Set(m)
		found := uint64(0)
		var first Result
		began := time.Now()
		runSeeds(t, seeds, Config{Duration: time.Hour, Faults: true}, func(res Result) {
			if found == 0 || res.Seed < found {
				found, first = res.Seed, res
			}
		})
		if found == 0 {
			t.Errorf("%v: no violation in %d seeds", m, len(seeds))
			continue
		}
		t.Logf("%v: found by seed %d (%s), %d seeds in %v", m, found, first.Violations[0].kind, len(seeds), time.Since(began).Round(time.Millisecond))
	}
}

var mutantFlag = flag.String("sim.mutant", "", "with sim.seed, the defect TestSimMutant puts back")

// TestSimMutant replays one seed with one defect put back, and its whole
// trace, to see how the simulator finds it:
//
//	go test -tags presence_mutants ./internal/sim -run TestSimMutant -sim.mutant=stale-answers -sim.seed=3 -v
func TestSimMutant(t *testing.T) {
	if *mutantFlag == "" || *seedFlag == 0 {
		t.Skip("replays a defect and a seed given by -sim.mutant and -sim.seed")
	}
	defer mutate.Set(mutate.None)
	for _, m := range mutate.All() {
		if m.String() == *mutantFlag {
			mutate.Set(m)
		}
	}
	cfg := Config{Duration: *durationFlag, Faults: true, TraceLines: 1 << 20}
	cfg.TraceOps.From, cfg.TraceOps.To = *opsFromFlag, *opsToFlag
	cfg.Seed = *seedFlag
	var res Result
	synctest.Test(t, func(*testing.T) { res = Run(cfg) })
	t.Logf("%d violations\n%s", len(res.Violations), report(res, -1))
}
