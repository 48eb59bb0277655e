package benchsuite

import (
	"fmt"
	"testing"
	"time"
)

// loadShapes are the fleets of BenchmarkLoad: a controller's shape, ten
// agents per model.
var loadShapes = []struct{ agents, models int }{
	{1000, 100},
	{10000, 1000},
}

// BenchmarkLoad plays a fleet shaped like a real controller (agents ten
// to a model, one PingBatcher, one Watcher per model) for nine periods
// (30 s) on a driven clock. From period 2 to 4.5, each period, 1% of the
// agents restart (Stop, then Start: a new sequence), 0.1% are killed
// (KillForTesting) and 0.1% stop quietly; a killed agent starts again
// three periods later, a stopped one four. From period 2 on it reports,
// per second of the driven clock: the commands reaching the server
// (writes/s: upserts, being inserts, sequence increments, prune deletes;
// reads/s: finds and getMores), the CPU this process spent
// (cpu-ms/s: library, drivers and the wire bridge; FerretDB runs in a
// child process), and the delays from a kill or a quiet stop to the
// watcher's Change, in driven seconds. The run checks every Change:
// false-deaths counts dead reports of agents that were running,
// false-lives alive reports of agents that were not, missed-deaths
// agents never reported dead before they started again.
func BenchmarkLoad(b *testing.B) {
	for _, shape := range loadShapes {
		b.Run(fmt.Sprintf("agents=%d/models=%d", shape.agents, shape.models), func(b *testing.B) {
			const slots, measureFrom = 9, 2
			began := time.Now()
			r := runFleet(b, runPlan{
				agents: shape.agents, models: shape.models, slots: slots, measureFrom: measureFrom,
				actionsFrom: 2, actionsUntil: 4.5,
				restarts: shape.agents / 100, kills: max(shape.agents/1000, 1), stops: max(shape.agents/1000, 1),
				killRevival: 3, stopRevival: 4, modelsPerDatabase: 20, seed: 11,
			})
			b.ReportMetric(float64(time.Since(began).Nanoseconds())/slots, "ns/op")
			c := r.counts
			// The run's own deletes of old slot documents are left out.
			b.ReportMetric(float64(c.upserts+c.inserts+c.findAndModifies+c.deletes-r.prunes)/r.seconds, "writes/s")
			b.ReportMetric(float64(c.upserts)/r.seconds, "upserts/s")
			b.ReportMetric(float64(c.reads())/r.seconds, "reads/s")
			b.ReportMetric(float64(r.cpu.Milliseconds())/r.seconds, "cpu-ms/s")
			b.ReportMetric(r.real.Seconds()/(r.seconds/benchPeriod.Seconds()), "real-s/period")
			b.ReportMetric(r.startReal.Seconds(), "start-s")
			reportDelays(b, "kill", r.killDelays)
			reportDelays(b, "stop", r.stopDelays)
			b.ReportMetric(float64(r.restarts), "restarts")
			b.ReportMetric(float64(r.falseDeaths), "false-deaths")
			b.ReportMetric(float64(r.falseLives), "false-lives")
			b.ReportMetric(float64(r.missedDeaths), "missed-deaths")
			b.Logf("%+v", c)
		})
	}
}
