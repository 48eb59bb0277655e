package benchreport

import (
	"fmt"
	"strings"
)

// writeHow says how the figures were taken, with the command of each
// pass.
func writeHow(b *strings.Builder, run *Run) {
	b.WriteString("## How the figures were taken\n\n")
	if len(run.Passes) > 0 {
		b.WriteString("`make bench` runs, in order:\n\n")
		for _, p := range run.Passes {
			fmt.Fprintf(b, "- [%s] `%s`\n", p.Label, p.Command)
		}
		b.WriteString("\n")
	}
	b.WriteString("- **CPU-bound benchmarks** (the watcher's decode + diff, slot decoding, Ping, the tracker's heap, the comparison with Juju's algorithm with the database taken out) take the default benchtime or a few runs. Pass [B] (Ping, and the steady sync against Juju's) runs each benchmark five times (`-count 5`) and the report shows the median of each figure: a ping takes some tens of nanoseconds, which other work on the machine easily moves by a quarter.\n" +
		"- **Database benchmarks** live in `internal/benchsuite` and run once each (`-benchtime 1x`), all in one process, because the fleets they share are seeded once per process (a million beings take about a minute to insert). The time of an end-to-end sync or cold start is the median of several, fewer for larger fleets (`syncReps`, `coldReps` in the suite), so that a burst of other work on the shared machine during one of them does not move the figure; their round trips and heap are the mean.\n" +
		"- **The database** is FerretDB v1.24.2 on SQLite, which the suite runs in a child process behind the wire bridge (`internal/wirebridge`) in the benchmark process. The bridge counts commands (round trips are finds and getMores; writes are update statements, inserts, findAndModifies and deletes); a counting proxy in front of it counts bytes on the wire where a figure says so. CPU and heap figures are this process's: the library's, the drivers' and the bridge's, never FerretDB's.\n" +
		"- **Fleets** are seeded in bulk rather than by starting real Pingers (100,000 pingers would cost 200,000 round trips): being documents a thousand per insert command, the slot document written whole with the bits a batcher would have ORed into it, fields in index order.\n" +
		"- **Heap** figures are `runtime.ReadMemStats` HeapAlloc after two forced collections, before and after, the watcher still running.\n" +
		"- **Driven clock**: the runs of a fleet over time (steady writes, the heartbeat comparison, the load runs) give every worker a clock that moves only when told. The run moves it to the next timer once every worker waits on one again, so each acts at the instant it would in real time and the database sees the same traffic; minutes are played in seconds. Delays in those runs are in driven seconds.\n" +
		"- **Database taken out**: the comparison with Juju's algorithm also serves the same raw documents from memory to both watchers, so that what is measured is what each costs its controller; on the test server, its cost dominates.\n" +
		"- **The simulator** runs in a test, not a benchmark (`testing/synctest` needs a test's `*testing.T`): `TestSim -sim.bench` times its seeds and prints the speed as a benchmark result. A seed that breaks a promise fails the test; the report shows how many did rather than stopping there.\n" +
		"- **Binary sizes** are of `go build` with no flags, for the machine's OS and architecture, into a temporary directory; the modules linked are read from each binary's build information (`debug/buildinfo`).\n" +
		"- **Noise**: the machine has two cores, shared with other work while these figures were taken, and the test server runs on them too. Ratios near a threshold may fall either side from run to run; compare runs with `benchstat benchmarks.txt new.txt`.\n\n")
}

// writeNotMeasured says what was not measured, and why.
func writeNotMeasured(b *strings.Builder, run *Run) {
	b.WriteString("## Not measured, and why\n\n")
	b.WriteString("- **Juju's algorithm at 100,000 and 1,000,000 keys on the test server.** It looks unknown sequences up by `_id $in`, a thousand at a time; FerretDB's SQLite handler answers each such lookup by scanning the whole beings collection and comparing every document with every id (about 18 s per lookup over 100,000 beings, so about half an hour for a cold start), where MongoDB's `_id` index answers it in milliseconds. Those sizes are compared with the database taken out. The library's watcher reads a model's beings in one `_id` range instead when more than a hundred of its sequences are unknown and they are at least a third of the model's, which the test server answers in one scan.\n" +
		"- **The mgo face at a million keys.** Seeding and cold-starting a million keys takes minutes on the test server; the faces are compared up to 100,000 keys, and a million keys is measured on the official face.\n" +
		"- **Heartbeat documents end to end beyond 1,000 agents.** The test server scans the collection for every upsert (about 50 writes/s at 10,000 documents), so 10,000 and 100,000 agents' heartbeats (444 and 4,444 upserts/s) cannot be played; their writes and bytes are computed from the schedule and the bytes measured per upsert (marked †). Their watchers' syncs are measured at every size.\n" +
		"- **TTL expiry.** FerretDB v1 does not implement TTL indexes, so expired heartbeat documents are never deleted here.\n" +
		"- **A real MongoDB.** None can be installed on this machine. `PRESENCE_TEST_MONGODB=mongodb://… make bench` runs the same suite against one (4.4 or 5.0 for the mgo face), without the bridge: round trips and writes are then not counted.\n" +
		"- **Writes of 100,000 agents ten to a model** (10,000 models): 10,000 documents a slot are more than the test server can upsert in real time; the figure is computed from the measured one write per document and slot (†).\n\n")
}

// writeFindings explains what the figures show that wants fixing in the
// library, from the figures themselves.
func writeFindings(b *strings.Builder, run *Run) {
	var items []string
	if batch, ok1 := run.Metric(fmt.Sprintf(trackerBatch, million), "B/key"); ok1 {
		if single, ok2 := run.Metric(fmt.Sprintf(trackerHeap, million), "B/key"); ok2 && batch-single > 10 {
			heap := metric(run, fmt.Sprintf(coldStart, "official", million), "heap-MB", mb)
			items = append(items, fmt.Sprintf("**A watcher keeps more after its first sync than its keys need.** A tracker filled in one batch, as a watcher's first sync fills it, keeps %.0f bytes per key where one filled key by key keeps %.0f (`BenchmarkTrackerHeapBatch` against `BenchmarkTrackerHeap`); a million-key watcher keeps %s. Look at what `Tracker.End` keeps of the batch's scratch lists (`reuse` in `internal/livestate/tracker.go`).",
				batch, single, heap))
		}
	}
	slower := false
	for _, n := range Sizes {
		ours, ok1 := run.Metric(fmt.Sprintf(versusColdStart, "presence", n), "ns/op")
		theirs, ok2 := run.Metric(fmt.Sprintf(versusColdStart, "juju", n), "ns/op")
		slower = slower || ok1 && ok2 && ours > theirs
	}
	if slower {
		items = append(items, "**A cold start is slower than the Juju sketch's** with the database taken out, at one size at least (see the targets). Profile `BenchmarkVersusJujuColdStart/impl=presence` (`-cpuprofile`): a cold start decodes every being of the model (`layout.DecodeBeing` in `internal/layout/being.go`) and fills the tracker in one batch.")
	}
	cold := fmt.Sprintf(coldStart, "official", million)
	if trips, ok := run.Metric(cold, "roundtrips/op"); ok && trips > 1000 {
		items = append(items, fmt.Sprintf("**A million-key cold start takes %g round trips.** The watcher reads the model's beings in one `_id` range, `layout.RangeBatch` to a batch, after one slot read: a larger batch takes fewer round trips, up to the server's 16 MiB replies (about 200,000 projected beings each).", trips))
	}
	if ns, ok := run.Metric(millionPing, "ns/op"); ok && ns > 50 {
		one, _ := run.Metric(fmt.Sprintf(pingFace, "official"), "ns/op")
		items = append(items, fmt.Sprintf("**Ping slows with the number of fields in the slot**: %s for a million agents against %s when every ping hits the same field; the batcher holds %s of pending pings for them (`BenchmarkBatcherHeap`). Each of the 8 shards (by bit position) keeps every field of the slot in pages of 16 (`liveness/fieldset.go`); look at how a ping finds its page.",
			duration(ns), duration(one), metric(run, fmt.Sprintf(batcherHeap, million), "heap-MB", mb)))
	}
	if ns, ok := PerChange(run, million); ok && ns > 1000 {
		small, _ := PerChange(run, 10000)
		items = append(items, fmt.Sprintf("**A changed key costs more in a larger fleet**: %s at a million keys against %s at 10,000. The cost is memory latency: the tracker's tables of a million keys (about 100 MB) are far larger than the caches, and each change reads its sequence slot, its record and its key at random. A smaller tracker helps a little; the rest is inherent to following a million keys.",
			duration(ns), duration(small)))
	}
	var slow []string
	for _, kind := range []struct{ what, pattern string }{
		{"steady sync", "BenchmarkSteadySync/face=%s/keys=%d/changed=0"}, {"cold start", coldStart},
	} {
		for _, n := range FaceSizes {
			if _, _, r, ok := FaceRatio(run, kind.pattern, n); ok && r > FaceSlack {
				slow = append(slow, fmt.Sprintf("%s at %s keys (×%.2f)", kind.what, count(n), r))
			}
		}
	}
	if len(slow) > 0 {
		items = append(items, "**The official face was slower than 1.2× the mgo face** on: "+strings.Join(slow, ", ")+". Both faces send the same commands (the round trips match) and the test server's time dominates these figures; rerun them (`benchstat`) before acting on a single run.")
	}
	if res, ok := simulatorRun(run); ok && res.Metrics["failed-seeds"] > 0 {
		items = append(items, fmt.Sprintf("**%s of %d seeds of the simulator broke a promise.** Pass [%s] in `benchmarks.txt` names each seed with the promises it broke; `go test ./internal/sim -run 'TestSim$' -sim.seed=N -v` replays one with its whole trace. Its speed counts those runs too.",
			whole(res.Metrics["failed-seeds"]), res.Iterations, res.Pass))
	}
	if len(items) == 0 {
		return
	}
	b.WriteString("## What the figures show, and what to fix\n\n")
	for _, item := range items {
		b.WriteString("- " + item + "\n")
	}
	b.WriteString("\n")
}
