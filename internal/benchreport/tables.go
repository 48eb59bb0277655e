package benchreport

import (
	"fmt"
	"strings"
)

func mb(x float64) string  { return fmt.Sprintf("%.2f MB", x) }
func kb(x float64) string  { return fmt.Sprintf("%.1f KB", x) }
func sec(x float64) string { return fmt.Sprintf("%.1f s", x) }
func plain(x float64) string {
	return num(x)
}
func whole(x float64) string { return count(int(x + 0.5)) }

// writeFaces writes the two faces side by side (issue 11).
func writeFaces(b *strings.Builder, run *Run) {
	b.WriteString("## The two faces side by side\n\n")
	fmt.Fprintf(b, "The Juju-compatible face (package presence over `github.com/juju/mgo/v2`) and `mongostore` over the official driver, on the same server and the same data, one after the other. The official face should be within %.1f× of the mgo face on every figure. Measured by %s, %s and %s.\n\n",
		FaceSlack, cite(run, "BenchmarkPing/face=*"), cite(run, "BenchmarkSteadySync/face=*"), cite(run, "BenchmarkColdStart/face=*"))
	b.WriteString("| Figure | mgo face | official face | official / mgo | within 1.2× | round trips (mgo / official) |\n|---|---|---|---|---|---|\n")
	row := func(label, pattern, tripsPattern string, args ...any) {
		mgo, official, ratio, ok := FaceRatio(run, pattern, args...)
		if !ok {
			fmt.Fprintf(b, "| %s | — | — | — | not measured | |\n", label)
			return
		}
		trips := ""
		if tripsPattern != "" {
			name := func(face string) string { return fmt.Sprintf(tripsPattern, append([]any{face}, args...)...) }
			trips = metric(run, name("mgo"), "roundtrips/op", plain) + " / " + metric(run, name("official"), "roundtrips/op", plain)
		}
		fmt.Fprintf(b, "| %s | %s | %s | ×%.2f | %s | %s |\n", label, duration(mgo), duration(official), ratio, yesNo(ratio <= FaceSlack), trips)
	}
	row("PingBatcher.Ping", pingFace, "")
	for _, n := range FaceSizes {
		row(fmt.Sprintf("Steady sync, %s keys, nothing changed", count(n)), "BenchmarkSteadySync/face=%s/keys=%d/changed=0", "BenchmarkSteadySync/face=%s/keys=%d/changed=0", n)
	}
	for _, n := range FaceSizes {
		row(fmt.Sprintf("Steady sync, %s keys, 1%% changed", count(n)), "BenchmarkSteadySync/face=%s/keys=%d/changed=1%%", "BenchmarkSteadySync/face=%s/keys=%d/changed=1%%", n)
	}
	for _, n := range FaceSizes {
		row(fmt.Sprintf("Cold start, %s keys", count(n)), coldStart, coldStart, n)
	}
	b.WriteString("\nThe end-to-end figures are mostly the test server's time (it decodes every document from JSON); the drivers differ by tens of microseconds. A ratio far from 1 at the smallest sizes is noise of the shared machine: compare runs with `benchstat`.\n\n")
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// writeSyncCurve writes the steady sync figures against the fleet size.
func writeSyncCurve(b *strings.Builder, run *Run) {
	b.WriteString("## Steady sync: CPU in proportion to what changed\n\n")
	fmt.Fprintf(b, "Decode + diff is the watcher's own code on the two live slot documents as they arrive from the driver (finding their parts, comparing them with the last read, updating the tracker), without the round trip: %s. End to end is `Watcher.Sync` through the official face and the test server: %s.\n\n",
		cite(run, "BenchmarkWatcherDecodeDiff/keys=N"), cite(run, "BenchmarkSteadySync/face=*"))
	b.WriteString("| Keys | decode + diff, nothing changed | decode + diff, 1% changed | each changed key | end to end, nothing changed | end to end, 1% changed | round trips |\n|---|---|---|---|---|---|---|\n")
	for _, n := range Sizes {
		perChange := "—"
		if ns, ok := PerChange(run, n); ok {
			perChange = fmt.Sprintf("%.0f ns", ns)
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s |\n", count(n),
			metric(run, fmt.Sprintf(decodeDiff, n, "0"), "ns/op", duration),
			metric(run, fmt.Sprintf(decodeDiff, n, "1%"), "ns/op", duration),
			perChange,
			metric(run, fmt.Sprintf(steadySync, "official", n, "0"), "ns/op", duration),
			metric(run, fmt.Sprintf(steadySync, "official", n, "1%"), "ns/op", duration),
			metric(run, fmt.Sprintf(steadySync, "official", n, "0"), "roundtrips/op", plain))
	}
	b.WriteString("\n")
}

// writeSteadyWrites writes the writes of a steady fleet.
func writeSteadyWrites(b *strings.Builder, run *Run) {
	b.WriteString("## Writes of a steady fleet\n\n")
	fmt.Fprintf(b, "A steady fleet (no starts or stops) played on a driven clock for four slots of 30 s, the batcher flushing on its own every second (jittered), each agent's ping fed to it once per slot at a random point of the slot's first quarter, as its pinger would; the first slot, all news, is left out. Measured by %s. \"Flushing every second\" is what a batcher that wrote each document at every flush, as before, would send.\n\n",
		cite(run, "BenchmarkSteadyWrites/agents=A/models=M"))
	b.WriteString("| Agents | Models | writes per document per slot, most | mean | writes/s | writes/s flushing every second | KB written per slot |\n|---|---|---|---|---|---|---|\n")
	for _, shape := range SteadyShapes {
		name := fmt.Sprintf(steadyWrites, shape[0], shape[1])
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s |\n", count(shape[0]), count(shape[1]),
			metric(run, name, "writes/doc/slot", plain), metric(run, name, "mean-writes/doc/slot", plain),
			metric(run, name, "writes/s", plain), count(shape[1]), metric(run, name, "write-KB/slot", plain))
	}
	b.WriteString("\n")
}

// writeMillion writes the figures of a million agents in one model.
func writeMillion(b *strings.Builder, run *Run) {
	b.WriteString("## One million agents in one model\n\n")
	cold := fmt.Sprintf(coldStart, "official", million)
	rows := [][2]string{
		{"PingBatcher.Ping, each op for the next of a million agents (" + cite(run, millionPing) + ")",
			metric(run, millionPing, "ns/op", duration) + ", " + metric(run, millionPing, "allocs/op", plain) + " allocs/op"},
		{"Batcher heap holding one slot of them (" + cite(run, fmt.Sprintf(batcherHeap, million)) + ")",
			metric(run, fmt.Sprintf(batcherHeap, million), "heap-MB", mb) + " (" + metric(run, fmt.Sprintf(batcherHeap, 100000), "heap-MB", mb) + " at 100,000)"},
		{"Flush of the slot: one upsert of 15,874 `$bit` fields (" + cite(run, millionWrite) + ")",
			metric(run, millionWrite, "ns/op", duration) + ", " + metric(run, millionWrite, "upserts/op", plain) + " upsert, document of " + metric(run, millionWrite, "doc-KB", kb) + ", read back and every bit checked"},
		{"Watcher cold start (" + cite(run, cold) + ")",
			metric(run, cold, "ns/op", duration) + ", " + metric(run, cold, "roundtrips/op", plain) + " round trips, " + metric(run, cold, "heap-MB", mb) + " of heap kept"},
		{"Watcher steady sync end to end, nothing changed / 1% changed (" + cite(run, fmt.Sprintf(steadySync, "official", million, "0")) + ")",
			metric(run, fmt.Sprintf(steadySync, "official", million, "0"), "ns/op", duration) + " / " + metric(run, fmt.Sprintf(steadySync, "official", million, "1%"), "ns/op", duration)},
		{"… of which the watcher's CPU, decode + diff (" + cite(run, fmt.Sprintf(decodeDiff, million, "0")) + ")",
			metric(run, fmt.Sprintf(decodeDiff, million, "0"), "ns/op", duration) + " / " + metric(run, fmt.Sprintf(decodeDiff, million, "1%"), "ns/op", duration)},
		{"Tracker heap per key, filled key by key / in one batch as a first sync fills it (" + cite(run, fmt.Sprintf(trackerHeap, million)) + ", " + cite(run, fmt.Sprintf(trackerBatch, million)) + ")",
			metric(run, fmt.Sprintf(trackerHeap, million), "B/key", plain) + " B / " + metric(run, fmt.Sprintf(trackerBatch, million), "B/key", plain) + " B"},
	}
	b.WriteString("| Figure | Measured |\n|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(b, "| %s | %s |\n", r[0], r[1])
	}
	fmt.Fprintf(b, "\nThe test server writes and reads the slot document of %s; it is slow at it (it keeps documents as JSON and applies `$bit` field by field). MongoDB keeps BSON and applies the upsert in place in its cache: a document of this size is far within its 16 MB limit and an upsert of it costs milliseconds.\n\n",
		metric(run, millionWrite, "doc-KB", kb))
}

// writeJuju writes the comparison with the sketch of Juju's watcher.
func writeJuju(b *strings.Builder, run *Run) {
	b.WriteString("## Against Juju's 2019 watcher\n\n")
	b.WriteString("A sketch of the algorithm Juju's `state/presence` watcher used in 2019, written for these benchmarks from its description (`internal/benchsuite/jujusketch_test.go`): read the two live slot documents into maps of field name → int64; collect each alive bit of a sequence with no key yet as unknown; look the unknown sequences up by `_id $in`, a thousand at a time; keep `beingKey` (seq → key) and `beingSeq` (key → seq); dead bits and expired bits remove keys. The library's watcher and the sketch tell the same keys alive on the fleets measured (`TestJujuSketchAgrees`). Juju's own figures, measured side by side with this library's on one machine in an earlier round, were a cold start over 1,000 keys in 34 ms (this library then: 45 ms) and 0.96 MB of heap for 10,000 keys (then: 1.86 MB).\n\n")
	fmt.Fprintf(b, "On the test server, same data, same driver (mgo): %s and %s. Heap is what each keeps after a forced collection, the watcher running.\n\n",
		cite(run, "BenchmarkJujuColdStart/keys=N"), cite(run, "BenchmarkColdStart/face=*"))
	b.WriteString("| Keys | cold start, Juju sketch | cold start, presence | round trips, Juju / presence | heap, Juju sketch | heap, presence |\n|---|---|---|---|---|---|\n")
	for _, n := range append(append([]int(nil), JujuSizes...), 100000) {
		j := fmt.Sprintf(jujuColdStart, n)
		o := fmt.Sprintf(coldStart, "mgo", n)
		fmt.Fprintf(b, "| %s | %s | %s | %s / %s | %s | %s |\n", count(n),
			metricOr(run, j, "ns/op", duration, "not run (about half an hour here)"), metric(run, o, "ns/op", duration),
			metric(run, j, "roundtrips/op", plain), metric(run, o, "roundtrips/op", plain),
			metric(run, j, "heap-MB", mb), metric(run, o, "heap-MB", mb))
	}
	fmt.Fprintf(b, "\nWith the database taken out: both read the same raw documents from memory, so what is left is what each costs its controller (%s, %s).\n\n",
		cite(run, "BenchmarkVersusJujuColdStart/impl=*/keys=N"), cite(run, "BenchmarkVersusJujuSync/impl=*/keys=N"))
	b.WriteString("| Keys | cold start, Juju sketch | cold start, presence | heap, Juju sketch | heap, presence | steady sync, Juju sketch | steady sync, presence |\n|---|---|---|---|---|---|---|\n")
	for _, n := range Sizes {
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s |\n", count(n),
			metric(run, fmt.Sprintf(versusColdStart, "juju", n), "ns/op", duration),
			metric(run, fmt.Sprintf(versusColdStart, "presence", n), "ns/op", duration),
			metric(run, fmt.Sprintf(versusColdStart, "juju", n), "heap-MB", mb),
			metric(run, fmt.Sprintf(versusColdStart, "presence", n), "heap-MB", mb),
			metric(run, fmt.Sprintf(versusSync, "juju", n), "ns/op", duration),
			metric(run, fmt.Sprintf(versusSync, "presence", n), "ns/op", duration))
	}
	b.WriteString("\nThe sketch differs from the library on one case, which no fleet here has: a key whose newer sequence is seen only dead while its older one is still alive. The sketch never looks up a dead sequence and calls the key alive; the library knows the newer sequence and calls it dead.\n\n")
}

func metricOr(run *Run, name, unit string, show func(float64) string, missing string) string {
	if x, ok := run.Metric(name, unit); ok {
		return show(x)
	}
	return missing
}

// writeHeartbeat writes the comparison with one heartbeat document per
// agent.
func writeHeartbeat(b *strings.Builder, run *Run) {
	b.WriteString("## Against one heartbeat document per agent\n\n")
	b.WriteString("What a user would otherwise build on MongoDB: one document per agent, `{_id: key, seen: <time>}`, upserted every 0.75 period (22.5 s); a TTL index on `seen` expiring documents two periods old; watchers asking every period for the documents seen in the last two periods. It lives in the benchmark code only (`internal/benchsuite/heartbeat_test.go`). Both sides use the official driver; bytes are counted on the wire by a proxy in front of the test server.\n\n")
	hb := fmt.Sprintf(heartbeatRun, "heartbeat", HeartbeatAgents)
	ours := fmt.Sprintf(heartbeatRun, "presence", HeartbeatAgents)
	fmt.Fprintf(b, "Measured: 1,000 agents played for eight periods on a driven clock (%s), the library as real Pingers of one model with one PingBatcher and one Watcher; the watchers' steady sync at each size (%s); the library's writes at each size (%s). Figures marked † are computed, because the test server, which scans the collection for every upsert, cannot take them in real time: the heartbeats' from their schedule (each agent upserts every 22.5 s) and the bytes of one upsert measured at 1,000 agents; the library's at 100,000 agents ten to a model from one write per model and slot and the bytes of one such write measured at 10,000 agents.\n\n",
		cite(run, "BenchmarkHeartbeatRun/impl=*/agents=1000"), cite(run, "BenchmarkHeartbeatSync/impl=*/agents=N"), cite(run, "BenchmarkSteadyWrites/agents=A/models=M"))
	// The bytes of one write of a ten-agent model's slot document, for the
	// sizes not played.
	tenKB := 0.0
	if kb, ok := run.Metric(fmt.Sprintf(steadyWrites, 10000, 1000), "write-KB/slot"); ok {
		tenKB = kb / 1000
	}
	hbWrites, okW := run.Metric(hb, "writes/s")
	hbKB, okKB := run.Metric(hb, "write-KB/period")
	perWriteKB := 0.0
	if okW && okKB && hbWrites > 0 {
		perWriteKB = hbKB / (hbWrites * 30)
	}
	b.WriteString("| Agents | Figure | heartbeat documents | presence, one model | presence, ten agents per model |\n|---|---|---|---|---|\n")
	for _, n := range FaceSizes {
		hbW, hbB := "—", "—"
		if n == HeartbeatAgents && okW {
			hbW, hbB = num(hbWrites), num(hbKB)+" KB"
		} else if perWriteKB > 0 {
			w := float64(n) / 22.5
			hbW, hbB = num(w)+" †", num(w*30*perWriteKB)+" KB †"
		}
		oneW := metric(run, fmt.Sprintf(steadyWrites, n, 1), "writes/s", plain)
		oneB := metric(run, fmt.Sprintf(steadyWrites, n, 1), "write-KB/slot", func(x float64) string { return num(x) + " KB" })
		tenName := fmt.Sprintf(steadyWrites, n, n/10)
		tenW := metric(run, tenName, "writes/s", plain)
		tenB := metric(run, tenName, "write-KB/slot", func(x float64) string { return num(x) + " KB" })
		if tenW == "—" {
			// One write per model and slot, as measured at the other sizes.
			tenW = num(float64(n/10)/30) + " †"
			if tenKB > 0 {
				tenB = num(float64(n/10)*tenKB) + " KB †"
			}
		}
		fmt.Fprintf(b, "| %s | database writes/s | %s | %s | %s |\n", count(n), hbW, oneW, tenW)
		fmt.Fprintf(b, "| %s | bytes written per period | %s | %s | %s |\n", count(n), hbB, oneB, tenB)
		hs := fmt.Sprintf(heartbeatSync, "heartbeat", n)
		ps := fmt.Sprintf(heartbeatSync, "presence", n)
		fmt.Fprintf(b, "| %s | watcher sync: time, round trips, KB read | %s, %s, %s | %s, %s, %s | a watcher per model, each following ten keys |\n", count(n),
			metric(run, hs, "ns/op", duration), metric(run, hs, "roundtrips/op", plain), metric(run, hs, "read-KB/op", plain),
			metric(run, ps, "ns/op", duration), metric(run, ps, "roundtrips/op", plain), metric(run, ps, "read-KB/op", plain))
	}
	fmt.Fprintf(b, "| any | death detection after a quiet stop: mean, median, most (driven clock, watcher polling every period) | %s, %s, %s | %s, %s, %s | same |\n",
		metric(run, hb, "death-mean-s", sec), metric(run, hb, "death-median-s", sec), metric(run, hb, "death-max-s", sec),
		metric(run, ours, "death-mean-s", sec), metric(run, ours, "death-median-s", sec), metric(run, ours, "death-max-s", sec))
	fmt.Fprintf(b, "| 1,000 | false deaths / deaths missed in the run | %s / %s | %s / %s | |\n",
		metric(run, hb, "false-deaths", plain), metric(run, hb, "missed-deaths", plain),
		metric(run, ours, "false-deaths", plain), metric(run, ours, "missed-deaths", plain))
	if ttl, ok := run.Metric(hb, "ttl-index"); ok && ttl == 0 {
		b.WriteString("\nThe test server refused the TTL index (FerretDB v1: `Index option \"expireAfterSeconds\" is not implemented yet`), so its heartbeat documents never expire. The comparison does not depend on it: the watchers' query filters on `seen`, and the TTL only bounds the collection. On MongoDB the TTL monitor deletes each expired document (a write per dead agent, once) and the index on `seen` is rewritten at every heartbeat.\n")
	}
	b.WriteString("\nA heartbeat's death is seen between 1.25 and 3 periods after the stop (its last upsert is up to 0.75 period old; it must be two periods old; the watcher polls every period). The library's between 0.75 and 3 periods (the key stays alive for the rest of its last pinged slot and the whole next one; same poll). KillForTesting is seen at the next poll.\n\n")
}

// writeLoad writes the controller-shaped load runs.
func writeLoad(b *strings.Builder, run *Run) {
	b.WriteString("## Load run: a fleet shaped like a controller\n\n")
	fmt.Fprintf(b, "Real Pingers, ten to a model, one PingBatcher, one Watcher per model watching every key of its model, played for nine periods of 30 s on a driven clock (%s). From period 2 to 4.5, each period, 1%% of the agents restart (Stop, then Start: a new sequence), 0.1%% are killed (KillForTesting) and 0.1%% stop quietly; a killed agent starts again three periods later, a stopped one four. Figures from period 2 on, per second of the driven clock; commands counted by the bridge; CPU is this process's (library, drivers, wire bridge; FerretDB runs in a child process). The run checks every Change the watchers send against what it did.\n\n",
		cite(run, "BenchmarkLoad/agents=A/models=M"))
	shapes := [][2]int{{1000, 100}, LoadShape}
	b.WriteString("| Figure |")
	for _, s := range shapes {
		fmt.Fprintf(b, " %s agents in %s models |", count(s[0]), count(s[1]))
	}
	b.WriteString("\n|---|")
	for range shapes {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	rows := []struct{ label, unit string }{
		{"database writes/s (upserts, being inserts, sequence increments, prune deletes)", "writes/s"},
		{"… of which slot upserts/s", "upserts/s"},
		{"database reads/s (finds and getMores)", "reads/s"},
		{"controller CPU, ms per second", "cpu-ms/s"},
		{"kill → Change, mean (s)", "kill-mean-s"},
		{"kill → Change, median (s)", "kill-median-s"},
		{"kill → Change, most (s)", "kill-max-s"},
		{"quiet stop → Change, mean (s)", "stop-mean-s"},
		{"quiet stop → Change, most (s)", "stop-max-s"},
		{"restarts / kills / stops in the run", ""},
		{"false deaths", "false-deaths"},
		{"false lives (alive reported before a restart)", "false-lives"},
		{"deaths missed", "missed-deaths"},
		{"real seconds per period played; seconds to start every pinger", ""},
	}
	for _, r := range rows {
		fmt.Fprintf(b, "| %s |", r.label)
		for _, s := range shapes {
			name := fmt.Sprintf(load, s[0], s[1])
			switch {
			case r.unit != "":
				fmt.Fprintf(b, " %s |", metric(run, name, r.unit, plain))
			case strings.HasPrefix(r.label, "restarts"):
				fmt.Fprintf(b, " %s / %s / %s |", metric(run, name, "restarts", plain), metric(run, name, "kills", plain), metric(run, name, "stops", plain))
			default:
				fmt.Fprintf(b, " %s; %s |", metric(run, name, "real-s/period", sec), metric(run, name, "start-s", sec))
			}
		}
		b.WriteString("\n")
	}
	b.WriteString("\nEach watcher polls its own model (`WithSharedReader(false)`), as before the shared reader, so that these figures compare with earlier reports; the next section plays the shared reader, the default, side by side. The models are spread over databases of twenty models each (a routing store in the benchmark), because the test server scans a whole collection for every lookup by `_id`; the workers see one store, and the server gets the same statements and reads as from one database, in more commands. A kill is seen at the watcher's next poll, up to a period later; the kill → Change delay is to the read that decided the Change.\n\n")
}
