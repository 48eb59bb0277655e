package benchreport

import (
	"fmt"
	"strings"
)

// The shared reader of issue 19: a controller's watchers read together,
// once a period, rather than each its own model.

// sharedReader names a run of BenchmarkSharedReader: the run, agents,
// models and the reader ("per-model" or "shared").
const sharedReader = "BenchmarkSharedReader/run=%s/agents=%d/models=%d/reader=%s"

// SharedFleet is the fleet of the shared reader's steady and churn runs,
// and SharedPollFleet that of its poll run: agents, models.
var (
	SharedFleet     = [2]int{10000, 1000}
	SharedPollFleet = [2]int{100000, 10000}
)

// sharedName returns the name of a run of BenchmarkSharedReader.
func sharedName(run string, reader string) string {
	fleet := SharedFleet
	if run == "poll" {
		fleet = SharedPollFleet
	}
	return fmt.Sprintf(sharedReader, run, fleet[0], fleet[1], reader)
}

// sharedTargets checks the figures of BenchmarkSharedReader against the
// targets of issue 19.
func sharedTargets(run *Run) []Verdict {
	var vs []Verdict
	steady, steadyOwn := sharedName("steady", "shared"), sharedName("steady", "per-model")

	a := newAllOf()
	if reads, ok := run.Metric(steady, "watch-reads/s"); ok {
		requests, _ := run.Metric(steady, "watch-requests/s")
		own, _ := run.Metric(steadyOwn, "watch-reads/s")
		prune, _ := run.Metric(steady, "prune-reads/s")
		pruneOwn, _ := run.Metric(steadyOwn, "prune-reads/s")
		a.add(fmt.Sprintf("%s reads/s (%s as one database would take them) against %s per model; the watchers' pruning adds %s and %s",
			num(reads), num(requests), num(own), num(prune), num(pruneOwn)), reads <= 1)
	} else {
		a.miss("reads/s")
	}
	vs = append(vs, a.verdict(19, "Watchers sharing their reads, steady fleet of 10,000 agents in 1,000 models: ≤ 1 database read/s for watching (was about 33, a read per model per period)",
		"BenchmarkSharedReader/run=steady/agents=10000/models=1000/reader=*"))

	b := newAllOf()
	cpu, ok1 := run.Metric(steady, "cpu-ms/s")
	cpuOwn, ok2 := run.Metric(steadyOwn, "cpu-ms/s")
	if ok1 && ok2 {
		b.add(fmt.Sprintf("%s ms/s against %s per model", num(cpu), num(cpuOwn)), cpu <= cpuOwn)
	} else {
		b.miss("CPU")
	}
	vs = append(vs, b.verdict(19, "… controller CPU per second not higher than with per-model watchers (same plan)",
		"BenchmarkSharedReader/run=steady/agents=10000/models=1000/reader=*"))

	churn, churnOwn := sharedName("churn", "shared"), sharedName("churn", "per-model")
	c := newAllOf()
	if killMax, ok := run.Metric(churn, "kill-max-s"); ok {
		stopMax, _ := run.Metric(churn, "stop-max-s")
		killMean, _ := run.Metric(churn, "kill-mean-s")
		stopMean, _ := run.Metric(churn, "stop-mean-s")
		killMeanOwn, _ := run.Metric(churnOwn, "kill-mean-s")
		stopMeanOwn, _ := run.Metric(churnOwn, "stop-mean-s")
		wrong := 0.0
		for _, unit := range []string{"false-deaths", "false-lives", "missed-deaths"} {
			x, _ := run.Metric(churn, unit)
			wrong += x
		}
		c.add(fmt.Sprintf("kill → Change %.1f s mean (per model %.1f s), %.1f s at most; quiet stop → Change %.1f s mean (per model %.1f s), %.1f s at most; %g false deaths, false lives or missed deaths",
			killMean, killMeanOwn, killMax, stopMean, stopMeanOwn, stopMax, wrong), killMax <= 30 && stopMax <= 90 && wrong == 0)
	} else {
		c.miss("delays")
	}
	vs = append(vs, c.verdict(19, "… with restarts, kills and quiet stops (the load run's): detection delays within the per-model watcher's bounds (kill → Change within a period, quiet stop within three) and every Change right",
		"BenchmarkSharedReader/run=churn/agents=10000/models=1000/reader=*"))

	poll, pollOwn := sharedName("poll", "shared"), sharedName("poll", "per-model")
	info := Verdict{Issue: 19, Target: "100,000 agents in 10,000 models: round trips and bytes of a period's reads, per-model watchers and shared",
		Benchmark: "BenchmarkSharedReader/run=poll/agents=100000/models=10000/reader=*", Status: NotMeasured, Measured: "—"}
	if trips, ok := run.Metric(poll, "roundtrips/period"); ok {
		tripsOwn, _ := run.Metric(pollOwn, "roundtrips/period")
		requests, _ := run.Metric(poll, "requests/period")
		read, _ := run.Metric(poll, "read-KB/period")
		readOwn, _ := run.Metric(pollOwn, "read-KB/period")
		sent, _ := run.Metric(poll, "sent-KB/period")
		sentOwn, _ := run.Metric(pollOwn, "sent-KB/period")
		info.Measured = fmt.Sprintf("per model: %s round trips, %s KB read, %s KB sent; shared: %s round trips (%s as one database would take them), %s KB read, %s KB sent",
			num(tripsOwn), num(readOwn), num(sentOwn), num(trips), num(requests), num(read), num(sent))
		info.Status = Info
	}
	vs = append(vs, info)

	d := newAllOf()
	trips, ok1 := run.Metric(poll, "sync-roundtrips")
	tripsOwn, ok2 := run.Metric(pollOwn, "sync-roundtrips")
	kb, _ := run.Metric(poll, "sync-read-KB")
	kbOwn, _ := run.Metric(pollOwn, "sync-read-KB")
	if ok1 && ok2 {
		d.add(fmt.Sprintf("%g round trip and %.2f KB read (per-model watcher: %g, %.2f KB)", trips, kb, tripsOwn, kbOwn), trips == tripsOwn && kb <= kbOwn*1.05)
	} else {
		d.miss("Sync")
	}
	vs = append(vs, d.verdict(19, "… Sync of one model's watcher still costs what that model changed: the round trips and bytes of a per-model watcher's",
		"BenchmarkSharedReader/run=poll/agents=100000/models=10000/reader=*"))
	return vs
}

// writeShared writes the shared reader's runs side by side.
func writeShared(b *strings.Builder, run *Run) {
	b.WriteString("## Shared reads: one poll a period for a controller's watchers\n\n")
	fmt.Fprintf(b, "The watchers of one store share their periodic reads by default: one poll a period reads every watched model's live slots by `_id`, a thousand ids a request, and one lookup the beings any of them has not met. Side by side, the same plans with each watcher polling its own model (`WithSharedReader(false)`), as before: a steady fleet and the load run's fleet (restarts, kills, quiet stops) of %s agents in %s models, played for nine periods and measured from the second, and a period of %s agents in %s models (%s). The models are spread over databases of fifty (a routing store in the benchmark, for the test server, which scans a collection for every read by `_id`): a poll then sends a request to every database its ids span, where one database takes one request per thousand ids; \"as one database would take them\" counts the requests the engine made.\n\n",
		count(SharedFleet[0]), count(SharedFleet[1]), count(SharedPollFleet[0]), count(SharedPollFleet[1]),
		cite(run, "BenchmarkSharedReader/run=R/agents=A/models=M/reader=*"))
	b.WriteString("| Run | Figure | per-model watchers | shared reader |\n|---|---|---|---|\n")
	rows := []struct{ run, label, unit string }{
		{"steady", "database reads/s for watching (finds and getMores)", "watch-reads/s"},
		{"steady", "… as one database would take them", "watch-requests/s"},
		{"steady", "database reads/s of the watchers' pruning", "prune-reads/s"},
		{"steady", "database reads/s, pruning included", "reads/s"},
		{"steady", "database writes/s", "writes/s"},
		{"steady", "controller CPU, ms per second", "cpu-ms/s"},
		{"churn", "database reads/s for watching", "watch-reads/s"},
		{"churn", "… as one database would take them", "watch-requests/s"},
		{"churn", "controller CPU, ms per second", "cpu-ms/s"},
		{"churn", "kill → Change, mean / most (s)", "kill"},
		{"churn", "quiet stop → Change, mean / most (s)", "stop"},
		{"churn", "false deaths / false lives / deaths missed", ""},
		{"poll", "round trips in a period", "roundtrips/period"},
		{"poll", "… as one database would take them", "requests/period"},
		{"poll", "KB read in a period (replies)", "read-KB/period"},
		{"poll", "KB sent in a period (requests)", "sent-KB/period"},
		{"poll", "Sync of one watcher: round trips, KB read", "sync"},
	}
	for _, r := range rows {
		fmt.Fprintf(b, "| %s | %s |", r.run, r.label)
		for _, reader := range []string{"per-model", "shared"} {
			name := sharedName(r.run, reader)
			switch r.unit {
			case "kill", "stop":
				fmt.Fprintf(b, " %s / %s |", metric(run, name, r.unit+"-mean-s", sec), metric(run, name, r.unit+"-max-s", sec))
			case "sync":
				fmt.Fprintf(b, " %s, %s |", metric(run, name, "sync-roundtrips", plain), metric(run, name, "sync-read-KB", plain))
			case "":
				fmt.Fprintf(b, " %s / %s / %s |", metric(run, name, "false-deaths", plain), metric(run, name, "false-lives", plain), metric(run, name, "missed-deaths", plain))
			default:
				fmt.Fprintf(b, " %s |", metric(run, name, r.unit, plain))
			}
		}
		b.WriteString("\n")
	}
	b.WriteString("\nEach watcher prunes its model now and then (about every twenty periods), whether it shares a poll or not: two reads a prune, which the shared reader leaves as they were, so the target of one read a second counts the reads of watching; pruning included, the steady fleet's figure is the one in the row above it. A Sync reads its one model, as before. " +
		"The shared reader reads every model at one phase of the period, set by the first watcher to ask, where per-model watchers read each at a phase of its own: a kill is seen at the next read, within a period, either way, and a quiet stop at the first read after the key's last slot leaves the window, within three, so a mean delay moves with that phase and the bounds do not. " +
		"The load run above plays its watchers polling each their own model, as before the shared reader, so that its figures compare with earlier reports.\n\n")
}
