package benchsuite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/presence-go/presence/internal/slot"
	"github.com/presence-go/presence/liveness"
)

// steadyFleets are the fleets of BenchmarkSteadyWrites: agents spread
// evenly over models.
var steadyFleets = []struct{ agents, models int }{
	{1000, 1},
	{1000, 100},
	{10000, 1},
	{10000, 1000},
	{100000, 1},
	{100000, 100},
	{million, 1},
}

// docKey names one slot document.
type docKey struct {
	model string
	slot  int64
}

// writeLog is a liveness.Store that counts, on the way to the real one,
// how many times each slot document is written.
type writeLog struct {
	liveness.Store
	mu     sync.Mutex
	writes map[docKey]int
}

func (l *writeLog) WriteSlots(ctx context.Context, writes []liveness.SlotWrite) error {
	l.mu.Lock()
	for _, w := range writes {
		l.writes[docKey{w.ModelUUID, w.Slot}]++
	}
	l.mu.Unlock()
	return l.Store.WriteSlots(ctx, writes)
}

// BenchmarkSteadyWrites plays a steady fleet (no starts, no stops) of
// agents spread over models for a few slots of the default period (30 s)
// on a driven clock, with the batcher flushing on its own at the default
// interval (1 s, jittered). The pings are fed to the batcher as the
// agents' pingers would send them: one per agent per slot, at a random
// point of the slot's first quarter. The first slot, in which every ping
// is news, is left out of the figures; then writes/doc/slot is the most
// times any (model, slot) document was written in a slot (counted on the
// way to the store), writes/s the update statements that reached the
// server (counted by the bridge) per second of the driven clock, and
// write-KB/slot the bytes of update commands sent per slot. The time per
// op is real time per driven slot, mostly the test server's.
//
// Slot documents older than the live slots are deleted at each slot's
// start, as the watchers' pruning would, so that the test server (whose
// SQLite handler scans the collection for each upsert) keeps up.
func BenchmarkSteadyWrites(b *testing.B) {
	for _, shape := range steadyFleets {
		b.Run(fmt.Sprintf("agents=%d/models=%d", shape.agents, shape.models), func(b *testing.B) {
			if b.N > 1 {
				b.Fatal("run with -benchtime 1x: one op is one fleet run")
			}
			runSteadyWrites(b, shape.agents, shape.models)
		})
	}
}

// steadySlots is how many slots a steady run plays: a first slot of news,
// then the measured ones.
const steadySlots = 4

func runSteadyWrites(b *testing.B, agents, models int) {
	s := sharedServer(b)
	client, wc := countedClient(b)
	name := fmt.Sprintf("steady%d_%d", agents, models)
	d := s.newDatabase(b, name)
	log := &writeLog{Store: officialStore(b, client.Database(d.name).Collection("presence")), writes: map[docKey]int{}}

	start := time.Unix(slot.At(benchStart, 0, benchPeriod), 0)
	clock := newDrivenClock(start)
	pb := liveness.NewPingBatcher(log,
		liveness.WithClock(clock),
		liveness.WithClockSkew(false),
		liveness.WithPeriod(benchPeriod),
		liveness.WithOperationTimeout(operationTimeout))
	defer stopWorker(b, pb)
	if err := clock.WaitArmed(1, time.Minute); err != nil {
		b.Fatal(err)
	}

	modelIDs := make([]string, models)
	for m := range modelIDs {
		modelIDs[m] = fmt.Sprintf("57ead000-0000-4000-8000-%012d", m)
	}
	type agent struct {
		model    string
		fieldKey string
		fieldBit uint64
		offset   time.Duration // into the slot, drawn afresh each slot
	}
	fleet := make([]agent, agents)
	for i := range fleet {
		// Agents of a model take sequences 1, 2, … as their pingers would.
		seq := int64(i/models + 1)
		fieldKey, fieldBit := fieldOf(b, seq)
		fleet[i] = agent{model: modelIDs[i%models], fieldKey: fieldKey, fieldBit: fieldBit}
	}
	rng := rand.New(rand.NewPCG(uint64(agents), uint64(models)))
	order := make([]int, agents)
	for i := range order {
		order[i] = i
	}
	periodSeconds := slot.Seconds(benchPeriod)
	pings := s.mongo.Database(d.name).Collection("presence.pings")

	var measuredFrom wireBytes
	var upsertsFrom int
	var realStart time.Time
	for k := 0; k < steadySlots; k++ {
		slotNum := start.Unix() + int64(k)*periodSeconds
		slotStart := time.Unix(slotNum, 0)
		if k == 1 {
			measuredFrom, upsertsFrom, realStart = wc.snapshot(), s.snapshot().UpdateStatements, time.Now()
		}
		if k >= 2 {
			// Prune what no watcher reads any more, between two flushes.
			old := bson.D{{Key: "slot", Value: bson.D{{Key: "$lt", Value: slotNum - periodSeconds}}}}
			if _, err := pings.DeleteMany(context.Background(), old); err != nil {
				b.Fatal(err)
			}
		}
		for i := range fleet {
			fleet[i].offset = slot.PingOffset(benchPeriod, rng.Float64())
		}
		slices.SortFunc(order, func(x, y int) int { return int(fleet[x].offset - fleet[y].offset) })
		next := 0
		slotEnd := slotStart.Add(benchPeriod)
		for {
			deadline, ok := clock.Next()
			if !ok {
				b.Fatal("the batcher has no timer armed")
			}
			if !deadline.Before(slotEnd) {
				break
			}
			// The pings sent before the flush, in the order sent.
			for ; next < len(order) && slotStart.Add(fleet[order[next]].offset).Before(deadline); next++ {
				a := &fleet[order[next]]
				if err := pb.Ping(a.model, slotNum, a.fieldKey, a.fieldBit); err != nil {
					b.Fatal(err)
				}
			}
			clock.AdvanceTo(deadline)
			if err := clock.WaitArmed(1, operationTimeout); err != nil {
				b.Fatal(err)
			}
		}
		for ; next < len(order); next++ {
			a := &fleet[order[next]]
			if err := pb.Ping(a.model, slotNum, a.fieldKey, a.fieldBit); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	measured := steadySlots - 1
	firstMeasured := start.Unix() + periodSeconds
	perDocMax, docs, total := 0, 0, 0
	log.mu.Lock()
	for k, n := range log.writes {
		if k.slot >= firstMeasured {
			perDocMax = max(perDocMax, n)
			docs++
			total += n
		}
	}
	log.mu.Unlock()
	if docs != measured*models {
		b.Fatalf("%d documents written in the measured slots, want %d", docs, measured*models)
	}
	bytes := wc.snapshot().since(measuredFrom)
	upserts := s.snapshot().UpdateStatements - upsertsFrom
	seconds := float64(measured) * benchPeriod.Seconds()
	b.ReportMetric(float64(time.Since(realStart).Nanoseconds())/float64(measured), "ns/op")
	b.ReportMetric(float64(perDocMax), "writes/doc/slot")
	b.ReportMetric(float64(total)/float64(docs), "mean-writes/doc/slot")
	if s.counted() {
		b.ReportMetric(float64(upserts)/seconds, "writes/s")
	}
	b.ReportMetric(float64(bytes.written())/1e3/float64(measured), "write-KB/slot")
	b.Logf("%d agents in %d models: %d documents over %d slots, %d upserts (%d counted by the store), at most %d per document and slot",
		agents, models, docs, measured, upserts, total, perDocMax)
}
