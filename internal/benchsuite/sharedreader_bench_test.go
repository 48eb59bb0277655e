package benchsuite

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/presence-go/presence/internal/layout"
	"github.com/presence-go/presence/internal/slot"
	"github.com/presence-go/presence/liveness"
)

// readerModes are the two ways a controller's watchers read: each its own
// model every period, as before the shared reader, and one poll a period
// for all of them (the default).
var readerModes = []struct {
	name   string
	shared bool
}{{"per-model", false}, {"shared", true}}

// sharedModelsPerDatabase spreads the models of the shared reader's runs
// over databases (see routedStore), for the test server, which scans a
// collection for every read by _id. A shared poll then sends a request to
// each database its thousand ids span, where one database would take one
// request per thousand ids: the server's count is the larger of the two,
// and requests/s counts what one database would take.
const sharedModelsPerDatabase = 50

// BenchmarkSharedReader measures a controller's watchers sharing their
// reads (reader=shared, the default) side by side with each polling its
// own model (reader=per-model, WithSharedReader(false)), in runs of the
// same plan and seed:
//
//   - run=steady/agents=10000/models=1000: a steady fleet (no restarts,
//     kills or stops) played as BenchmarkLoad plays its own, for nine
//     periods, measured from the second. reads/s are the finds and
//     getMores reaching the server per driven second, of which
//     prune-reads/s are the watchers' pruners' (each prunes its model
//     about every twenty periods) and watch-reads/s the rest;
//     watch-requests/s counts the same reads as the engine asked for them
//     (what one database would receive); writes/s and cpu-ms/s are as in
//     BenchmarkLoad.
//   - run=churn/agents=10000/models=1000: BenchmarkLoad's fleet with its
//     restarts, kills and quiet stops: the same figures, the delays from
//     a kill or a stop to the Change, and the checks of every Change.
//   - run=poll/agents=100000/models=10000: a watcher per model, started a
//     hundred at a time over a period, then the documents of a steady
//     fleet seeded in bulk (beings, and slot documents with every agent's
//     bit), a period for the watchers to find them, and one period
//     measured, pruning off:
//     roundtrips/period (finds and getMores at the server),
//     requests/period (as the engine asked), sent-KB/period and
//     read-KB/period (the bytes of those requests and of their replies, on
//     the wire); then a Sync of one watcher: sync-roundtrips and
//     sync-read-KB.
//
// The models of every run are spread over databases of
// sharedModelsPerDatabase.
func BenchmarkSharedReader(b *testing.B) {
	for _, run := range []string{"steady", "churn"} {
		for _, mode := range readerModes {
			const agents, models = 10000, 1000
			b.Run(fmt.Sprintf("run=%s/agents=%d/models=%d/reader=%s", run, agents, models, mode.name), func(b *testing.B) {
				benchmarkSharedFleet(b, run, agents, models, mode.shared)
			})
		}
	}
	for _, mode := range readerModes {
		const agents, models = 100000, 10000
		b.Run(fmt.Sprintf("run=poll/agents=%d/models=%d/reader=%s", agents, models, mode.name), func(b *testing.B) {
			began := time.Now()
			r := runPoll(b, agents, models, mode.shared)
			b.ReportMetric(float64(time.Since(began).Nanoseconds()), "ns/op")
			b.ReportMetric(float64(r.period.reads()), "roundtrips/period")
			b.ReportMetric(float64(r.requests), "requests/period")
			b.ReportMetric(float64(r.periodBytes.sent["find"]+r.periodBytes.sent["getMore"])/1e3, "sent-KB/period")
			b.ReportMetric(float64(r.periodBytes.read())/1e3, "read-KB/period")
			b.ReportMetric(float64(r.sync.reads()), "sync-roundtrips")
			b.ReportMetric(float64(r.syncBytes.read())/1e3, "sync-read-KB")
		})
	}
}

// benchmarkSharedFleet plays one fleet run of BenchmarkSharedReader.
func benchmarkSharedFleet(b *testing.B, run string, agents, models int, shared bool) {
	plan := runPlan{
		agents: agents, models: models, slots: 9, measureFrom: 2,
		modelsPerDatabase: sharedModelsPerDatabase, sharedReader: shared, seed: 11,
	}
	if run == "churn" {
		plan.actionsFrom, plan.actionsUntil = 2, 4.5
		plan.restarts, plan.kills, plan.stops = agents/100, max(agents/1000, 1), max(agents/1000, 1)
		plan.killRevival, plan.stopRevival = 3, 4
	}
	began := time.Now()
	r := runFleet(b, plan)
	b.ReportMetric(float64(time.Since(began).Nanoseconds())/float64(plan.slots), "ns/op")
	c := r.counts
	b.ReportMetric(float64(c.reads())/r.seconds, "reads/s")
	b.ReportMetric(float64(r.pruneReads)/r.seconds, "prune-reads/s")
	b.ReportMetric(float64(c.reads()-r.pruneReads)/r.seconds, "watch-reads/s")
	b.ReportMetric(float64(r.requests-r.pruneReads)/r.seconds, "watch-requests/s")
	// The run's own deletes of old slot documents are left out.
	b.ReportMetric(float64(c.upserts+c.inserts+c.findAndModifies+c.deletes-r.prunes)/r.seconds, "writes/s")
	b.ReportMetric(float64(r.cpu.Milliseconds())/r.seconds, "cpu-ms/s")
	b.ReportMetric(r.real.Seconds()/(r.seconds/benchPeriod.Seconds()), "real-s/period")
	if run == "churn" {
		reportDelays(b, "kill", r.killDelays)
		reportDelays(b, "stop", r.stopDelays)
		b.ReportMetric(float64(r.restarts), "restarts")
	}
	b.ReportMetric(float64(r.falseDeaths), "false-deaths")
	b.ReportMetric(float64(r.falseLives), "false-lives")
	b.ReportMetric(float64(r.missedDeaths), "missed-deaths")
	b.Logf("%+v", c)
}

// pollResult is what runPoll measured.
type pollResult struct {
	period      counts // the commands of the measured period's reads
	periodBytes wireBytes
	requests    int    // the reads the engine asked of its store in it
	sync        counts // the commands of one watcher's Sync
	syncBytes   wireBytes
}

// runPoll starts a watcher per model on empty databases, a hundred at a
// time at instants spread over a period, as a controller's start over a
// while (and, polling by themselves, keep their own phases); then it
// seeds the documents of a steady fleet of agents spread over the models,
// plays a period in which the watchers find them, and measures the reads
// of the next period and of one watcher's Sync. (The watchers start on
// empty databases because the test server, which scans a collection for
// every read by _id, would take many minutes over their first reads.)
func runPoll(b *testing.B, agents, models int, shared bool) pollResult {
	s := sharedServer(b)
	client, wc := countedClient(b)
	perModel := int64(agents / models)
	ids := make([]string, models)
	routed := &routedStore{group: map[string]int{}}
	var dbs []*database
	for m := range ids {
		ids[m] = fmt.Sprintf("90110000-0000-4000-8000-%012d", m)
		if m%sharedModelsPerDatabase == 0 {
			d := s.newDatabase(b, fmt.Sprintf("poll%d_%d", models, len(dbs)))
			dbs = append(dbs, d)
			routed.stores = append(routed.stores, officialStore(b, client.Database(d.name).Collection("presence")))
		}
		routed.group[ids[m]] = len(dbs) - 1
	}

	clock := newDrivenClock(benchStart)
	opts := []liveness.Option{
		liveness.WithClock(clock),
		liveness.WithClockSkew(false),
		liveness.WithPeriod(benchPeriod),
		liveness.WithOperationTimeout(operationTimeout),
		liveness.WithPruning(false),
		liveness.WithSharedReader(shared),
	}
	const perStart = 100 // the driver's pool holds a hundred connections
	watchers := make([]*liveness.Watcher, 0, models)
	defer func() {
		for _, w := range watchers {
			stopWorker(b, w)
		}
	}()
	starts := (models + perStart - 1) / perStart
	for j := range starts {
		clock.AdvanceTo(benchStart.Add(time.Duration(j) * benchPeriod / time.Duration(starts)))
		for _, model := range ids[j*perStart : min((j+1)*perStart, models)] {
			watchers = append(watchers, liveness.NewWatcher(routed, model, opts...))
		}
		if err := clock.WaitArmed(len(watchers), armWait); err != nil {
			b.Fatal(err)
		}
	}

	first := slot.At(benchStart, 0, benchPeriod)
	periodSeconds := slot.Seconds(benchPeriod)
	seedPollFleet(b, dbs, ids, perModel, []int64{first, first + periodSeconds, first + 2*periodSeconds, first + 3*periodSeconds})
	// play moves the clock from timer to timer up to k periods from the
	// start, each watcher reading once more on the way, then checks that
	// every watcher follows its keys.
	play := func(k int) {
		end := benchStart.Add(time.Duration(k) * benchPeriod)
		for {
			next, ok := clock.Next()
			if !ok || !next.Before(end) {
				break
			}
			clock.AdvanceTo(next)
			if err := clock.WaitArmed(models, armWait); err != nil {
				b.Fatal(err)
			}
		}
		for m, w := range watchers {
			report := w.Report()
			if report["keys-alive"] != int(perModel) || report["syncs"] != int64(k) {
				b.Fatalf("%d periods on: the watcher of model %d has %v keys alive after %v reads (%v failed); want %d after %d",
					k, m, report["keys-alive"], report["syncs"], report["sync-failures"], perModel, k)
			}
		}
	}
	play(2)
	var r pollResult
	countsFrom, bytesFrom, requestsFrom := s.snapshot(), wc.snapshot(), routed.reads.Load()
	play(3)
	r.period, r.periodBytes = s.since(countsFrom), wc.snapshot().since(bytesFrom)
	r.requests = int(routed.reads.Load() - requestsFrom)
	countsFrom, bytesFrom = s.snapshot(), wc.snapshot()
	watchers[0].Sync()
	r.sync, r.syncBytes = s.since(countsFrom), wc.snapshot().since(bytesFrom)
	return r
}

// seedPollFleet writes, into the database of each group of models, the
// beings of perModel agents of each model and, for each slot of slots, a
// slot document of each model with every agent's bit.
func seedPollFleet(b *testing.B, dbs []*database, ids []string, perModel int64, slots []int64) {
	b.Helper()
	words := map[int64]uint64{}
	for seq := int64(1); seq <= perModel; seq++ {
		words[seq/layout.BitsPerField] |= 1 << uint(seq%layout.BitsPerField)
	}
	alive := fieldsDoc(words)
	ctx := context.Background()
	for i, d := range dbs {
		group := ids[i*sharedModelsPerDatabase : min((i+1)*sharedModelsPerDatabase, len(ids))]
		var beings, pings []any
		for _, model := range group {
			for seq := int64(1); seq <= perModel; seq++ {
				beings = append(beings, bson.D{{Key: "_id", Value: layout.DocID(model, seq)}, {Key: "seq", Value: seq}, {Key: "key", Value: fmt.Sprintf("unit-%d", seq)}})
			}
			for _, n := range slots {
				pings = append(pings, bson.D{{Key: "_id", Value: layout.DocID(model, n)}, {Key: "slot", Value: n}, {Key: "alive", Value: alive}})
			}
		}
		for _, c := range []struct {
			name string
			docs []any
		}{{"presence.beings", beings}, {"presence.pings", pings}} {
			for start := 0; start < len(c.docs); start += layout.Batch {
				batch := c.docs[start:min(start+layout.Batch, len(c.docs))]
				if _, err := d.mongo.Collection(c.name).InsertMany(ctx, batch, options.InsertMany().SetOrdered(false)); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}
