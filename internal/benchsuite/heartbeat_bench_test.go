package benchsuite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// heartbeatRunAgents is the fleet of BenchmarkHeartbeatRun: the heartbeat
// documents cost the test server a scan of the collection per upsert, so
// larger fleets are compared through their schedules (one upsert per
// agent per 0.75 period) and BenchmarkSteadyWrites.
const heartbeatRunAgents = 1000

// heartbeatStopsPerSlot is how many agents stop quietly per period, over
// periods 1 to 4, in both runs of BenchmarkHeartbeatRun.
const heartbeatStopsPerSlot = 7

// BenchmarkHeartbeatRun plays 1,000 agents for eight periods (30 s) on a
// driven clock, once with one heartbeat document per agent and once with
// the library (real Pingers of one model, one PingBatcher, one Watcher),
// both through the official driver. 21 agents stop quietly at random
// instants of periods 1 to 4; a watcher polls every period, at its own
// phase. From period 1 on: writes/s (statements reaching the server),
// write-KB/period (bytes of write commands), and the delay from each
// stop to the watcher's report, in driven seconds. false-deaths counts
// reports of agents that had not stopped; ttl-index is 1 if the server
// took the heartbeats' TTL index.
func BenchmarkHeartbeatRun(b *testing.B) {
	const periods, measureFrom = 8, 1
	b.Run(fmt.Sprintf("impl=heartbeat/agents=%d", heartbeatRunAgents), func(b *testing.B) {
		began := time.Now()
		r := runHeartbeats(b, heartbeatRunAgents, periods, measureFrom, 3*heartbeatStopsPerSlot)
		b.ReportMetric(float64(time.Since(began).Nanoseconds())/periods, "ns/op")
		b.ReportMetric(float64(r.writes)/r.seconds, "writes/s")
		b.ReportMetric(float64(r.bytes.written())/1e3/(r.seconds/benchPeriod.Seconds()), "write-KB/period")
		reportDelays(b, "death", r.delays)
		b.ReportMetric(float64(r.falseDeaths), "false-deaths")
		b.ReportMetric(float64(r.missed), "missed-deaths")
		ttl := 0.0
		if r.ttl {
			ttl = 1
		}
		b.ReportMetric(ttl, "ttl-index")
	})
	b.Run(fmt.Sprintf("impl=presence/agents=%d", heartbeatRunAgents), func(b *testing.B) {
		began := time.Now()
		r := runFleet(b, runPlan{
			agents: heartbeatRunAgents, models: 1, slots: periods, measureFrom: measureFrom,
			actionsFrom: 1, actionsUntil: 4, stops: heartbeatStopsPerSlot, stopRevival: 100,
			countBytes: true, seed: 7,
		})
		b.ReportMetric(float64(time.Since(began).Nanoseconds())/periods, "ns/op")
		// The run's own deletes of old slot documents are left out.
		b.ReportMetric(float64(r.counts.upserts+r.counts.inserts+r.counts.findAndModifies+r.counts.deletes-r.prunes)/r.seconds, "writes/s")
		b.ReportMetric(float64(r.bytes.written())/1e3/(r.seconds/benchPeriod.Seconds()), "write-KB/period")
		reportDelays(b, "death", r.stopDelays)
		b.ReportMetric(float64(r.falseDeaths), "false-deaths")
		b.ReportMetric(float64(r.missedDeaths), "missed-deaths")
	})
}

// reportDelays reports the mean, median and largest of delays in seconds.
func reportDelays(b *testing.B, what string, delays []time.Duration) {
	mean, median, largest := delayStats(delays)
	b.ReportMetric(mean, what+"-mean-s")
	b.ReportMetric(median, what+"-median-s")
	b.ReportMetric(largest, what+"-max-s")
	b.ReportMetric(float64(len(delays)), what+"s")
}

// BenchmarkHeartbeatSync measures a watcher's steady sync end to end,
// nothing changed, over n live agents, with one heartbeat document per
// agent (a find of the documents seen in the last two periods) and with
// the library (official face), both through the official driver.
// read-KB/op is the bytes of the replies; roundtrips/op the finds and
// getMores. Each op is the median of syncReps(n) syncs.
func BenchmarkHeartbeatSync(b *testing.B) {
	for _, n := range syncSizes[:3] {
		b.Run(fmt.Sprintf("impl=heartbeat/agents=%d", n), func(b *testing.B) {
			ctx := context.Background()
			s := sharedServer(b)
			client, wc := countedClient(b)
			d := s.newDatabase(b, fmt.Sprintf("heartbeatsync%d", n))
			h := heartbeats{coll: client.Database(d.name).Collection("heartbeats")}
			rng := rand.New(rand.NewPCG(1, uint64(n)))
			now := benchStart
			if err := h.seed(ctx, n, func(int) time.Time {
				return now.Add(-time.Duration(rng.Int64N(int64(heartbeatEvery))))
			}); err != nil {
				b.Fatal(err)
			}
			w := newHeartbeatWatcher(h)
			if err := w.sync(ctx, now, nil); err != nil {
				b.Fatal(err)
			}
			if len(w.alive) != n {
				b.Fatalf("%d agents alive, want %d", len(w.alive), n)
			}
			timeSyncs(b, s, wc, b.N*syncReps(n), func() {
				if err := w.sync(ctx, now, func(string, bool) { b.Fatal("a change in a steady fleet") }); err != nil {
					b.Fatal(err)
				}
			})
		})
		b.Run(fmt.Sprintf("impl=presence/agents=%d", n), func(b *testing.B) {
			s := sharedServer(b)
			f := sharedFleet(b, n)
			client, wc := countedClient(b)
			w := startWatcher(b, officialStore(b, client.Database(f.db.name).Collection("presence")), n)
			defer stopWorker(b, w)
			timeSyncs(b, s, wc, b.N*syncReps(n), w.Sync)
		})
	}
}

// timeSyncs times ops calls of sync, which reads through the client wc
// counts, and reports their median time, and their round trips and bytes
// read on average.
func timeSyncs(b *testing.B, s *server, wc *wireCounter, ops int, sync func()) {
	counted, bytes := s.snapshot(), wc.snapshot()
	b.ResetTimer()
	times := make([]time.Duration, 0, ops)
	for i := 0; i < ops; i++ {
		began := time.Now()
		sync()
		times = append(times, time.Since(began))
	}
	b.StopTimer()
	b.ReportMetric(float64(median(times).Nanoseconds()), "ns/op")
	if s.counted() {
		b.ReportMetric(float64(s.since(counted).reads())/float64(ops), "roundtrips/op")
	}
	b.ReportMetric(float64(wc.snapshot().since(bytes).read())/1e3/float64(ops), "read-KB/op")
}
