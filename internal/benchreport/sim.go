package benchreport

import (
	"fmt"
	"strings"
)

// The deterministic simulator of issue 17 (internal/sim). TestSim runs it
// under testing/synctest, which needs a test's *testing.T, so no benchmark
// can; with -sim.bench it prints its speed as a benchmark result: an op is
// one seed's run, its iterations the seeds.

// simulatorPrefix starts the name of the simulator's result,
// "BenchmarkSimulator/seeds=N".
const simulatorPrefix = "BenchmarkSimulator/"

// MakeSimSeeds and MakeSimSeconds are issue 17's target: make sim runs a
// thousand seeds of a simulated hour each in under five minutes on two
// cores.
const (
	MakeSimSeeds   = 1000
	MakeSimSeconds = 300
)

// simulatorRun returns the simulator's result, if the run printed one.
func simulatorRun(run *Run) (Result, bool) {
	for _, res := range run.Results {
		if strings.HasPrefix(res.Name, simulatorPrefix) {
			return res, true
		}
	}
	return Result{}, false
}

// MakeSimTime returns how long make sim's thousand seeds of an hour take
// at the speed measured, in seconds.
func MakeSimTime(run *Run) (float64, bool) {
	res, ok := simulatorRun(run)
	if !ok || res.Metrics["sim-hours/s"] <= 0 {
		return 0, false
	}
	return MakeSimSeeds / res.Metrics["sim-hours/s"], true
}

func simTargets(run *Run) []Verdict {
	speed := Verdict{Issue: 17, Target: fmt.Sprintf("`make sim`: %s seeds of a simulated hour each in under five minutes on two cores (at least %.2f simulated hours per second)", count(MakeSimSeeds), float64(MakeSimSeeds)/MakeSimSeconds),
		Benchmark: simulatorPrefix + "seeds=N", Status: NotMeasured, Measured: "—"}
	clean := Verdict{Issue: 17, Target: "… every seed keeps every promise the simulator's oracle checks",
		Benchmark: speed.Benchmark, Status: NotMeasured, Measured: "—"}
	res, ok := simulatorRun(run)
	if !ok {
		return []Verdict{speed, clean}
	}
	speed.Benchmark, clean.Benchmark = res.Name, res.Name
	if secs, ok := MakeSimTime(run); ok {
		speed.Measured = fmt.Sprintf("%s simulated hours per second over %d seeds: %s seeds in %s at that speed",
			num(res.Metrics["sim-hours/s"]), res.Iterations, count(MakeSimSeeds), duration(secs*1e9))
		speed.Status = statusOf(secs < MakeSimSeconds)
	}
	if failed, ok := res.Metrics["failed-seeds"]; ok {
		clean.Measured = fmt.Sprintf("%g of %d seeds broke a promise", failed, res.Iterations)
		clean.Status = statusOf(failed == 0)
	}
	return []Verdict{speed, clean}
}

// writeSimulator writes the simulator's speed.
func writeSimulator(b *strings.Builder, run *Run) {
	b.WriteString("## The simulator: simulated hours per second\n\n")
	res, ok := simulatorRun(run)
	name := simulatorPrefix + "seeds=N"
	if ok {
		name = res.Name
	}
	fmt.Fprintf(b, "`make sim` runs the deterministic simulator (`internal/sim`) over %s seeds. A simulated hour is one seed's run: three to four controllers, each with its own PingBatcher, Pingers, Watchers and Pruner on a skewed, drifting clock, and dozens of agents in three to five models starting, stopping, restarting and being killed, through outages, hangs, slow and dropped connections and steps of the server's and the hosts' clocks, every step checked by the oracle. The seeds run inside `testing/synctest`, as many at once as there are cores, so the figure is the simulator's throughput on this machine. `TestSim -sim.bench` prints it as a benchmark result (%s), since `testing/synctest` needs a test's `*testing.T` and no benchmark can run it; an op is one seed's run.\n\n",
		count(MakeSimSeeds), cite(run, name))
	b.WriteString("| Figure | Measured |\n|---|---|\n")
	if !ok {
		b.WriteString("| Simulated hours per second | — |\n\n")
		return
	}
	fmt.Fprintf(b, "| Seeds run, a simulated hour each | %d |\n", res.Iterations)
	fmt.Fprintf(b, "| Wall time of the run | %s |\n", duration(res.Metrics["ns/op"]*float64(res.Iterations)))
	fmt.Fprintf(b, "| Simulated hours per second | %s |\n", metric(run, res.Name, "sim-hours/s", plain))
	secs, _ := MakeSimTime(run)
	fmt.Fprintf(b, "| `make sim`'s %s seeds at that speed (target: under five minutes on two cores) | %s |\n", count(MakeSimSeeds), duration(secs*1e9))
	fmt.Fprintf(b, "| Seeds that broke a promise | %s of %d |\n\n", metric(run, res.Name, "failed-seeds", whole), res.Iterations)
	if failed := res.Metrics["failed-seeds"]; failed > 0 {
		fmt.Fprintf(b, "Each seed that broke a promise is named in `benchmarks.txt`, under pass [%s], with the promises it broke and the command that replays it (`go test ./internal/sim -run 'TestSim$' -sim.seed=N -v`).\n\n", res.Pass)
	}
}
