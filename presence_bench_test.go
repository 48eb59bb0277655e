package presence_test

import (
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/juju/clock"
	"github.com/juju/mgo/v2"
	"github.com/juju/mgo/v2/bson"
	"github.com/juju/names/v4"
	"gopkg.in/tomb.v2"

	"github.com/presence-go/presence"
	"github.com/presence-go/presence/internal/bitfield"
	"github.com/presence-go/presence/internal/slot"
	"github.com/presence-go/presence/internal/testserver"
	"github.com/presence-go/presence/internal/wirebridge"
)

// These benchmarks measure the library against the test server (FerretDB
// on SQLite behind the wire bridge, or PRESENCE_TEST_MONGODB). Starting
// 100,000 real Pingers would cost 200,000 round trips, so fleets are
// seeded in bulk instead: being documents go in a thousand per insert
// command, and the slot document is written whole, with the bits a batcher
// would have ORed into it. Each benchmark seeds its own database and drops
// it when it ends.

// benchSizes are the fleet sizes of the scaling curve.
var benchSizes = []int{1000, 10000, 100000}

// benchModel is the model every benchmark fleet belongs to.
var benchModel = names.NewModelTag("5eed0000-0000-4000-8000-00000000be4c")

// benchSlot is the slot the frozen clock stands in.
var benchSlot = slot.Of(start.Unix(), slot.Seconds(period))

// frozenClock stands still at start and never fires a timer, so workers
// act only when a benchmark asks them to (Sync).
type frozenClock struct{}

func (frozenClock) Now() time.Time                              { return start }
func (frozenClock) After(time.Duration) <-chan time.Time        { return nil }
func (frozenClock) AfterFunc(time.Duration, func()) clock.Timer { return idleTimer{} }
func (frozenClock) NewTimer(time.Duration) clock.Timer          { return idleTimer{} }
func (frozenClock) At(time.Time) <-chan time.Time               { return nil }
func (frozenClock) AtFunc(time.Time, func()) clock.Alarm        { return idleAlarm{} }
func (frozenClock) NewAlarm(time.Time) clock.Alarm              { return idleAlarm{} }

// idleTimer is a timer that never fires.
type idleTimer struct{}

func (idleTimer) Chan() <-chan time.Time   { return nil }
func (idleTimer) Reset(time.Duration) bool { return false }
func (idleTimer) Stop() bool               { return false }

// idleAlarm is an alarm that never fires.
type idleAlarm struct{}

func (idleAlarm) Chan() <-chan time.Time { return nil }
func (idleAlarm) Reset(time.Time) bool   { return false }
func (idleAlarm) Stop() bool             { return false }

// benchOpts are the options of every benchmark worker: a frozen clock, no
// skew measure, no pruning, and a batcher that writes only when synced.
func benchOpts() []presence.Option {
	return []presence.Option{
		presence.WithClock(frozenClock{}),
		presence.WithClockSkew(false),
		presence.WithPeriod(period),
		presence.WithPruning(false),
		presence.WithFlushInterval(time.Hour),
	}
}

// benchDB returns a database of its own for b, dropped when b ends, and
// the bridge that counts what reaches the server (nil against an external
// server).
func benchDB(b *testing.B) (*mgo.Database, *wirebridge.Bridge) {
	b.Helper()
	server := testserver.Shared(b)
	return server.Database(b), server.Bridge()
}

// fleet is a model of n live keys, machine-1 … machine-n, whose sequences
// are 1 … n, all pinged in the current slot.
type fleet struct {
	base   *mgo.Collection
	bridge *wirebridge.Bridge
	n      int
	// alive is the slot document's alive part; dead kills 1% of the keys
	// (every hundredth sequence).
	alive, dead bson.M
}

func keyOfSeq(seq int64) string { return "machine-" + strconv.FormatInt(seq, 10) }

// fleets seeds each size once for a top-level benchmark, on first use by
// one of its sub-benchmarks, so that sizes filtered out by -bench cost
// nothing. The databases belong to the top-level benchmark.
type fleets struct {
	parent *testing.B
	bySize map[int]*fleet
}

func newFleets(parent *testing.B) *fleets {
	return &fleets{parent: parent, bySize: make(map[int]*fleet)}
}

// get returns the fleet of n keys, seeding it first if need be.
func (fs *fleets) get(b *testing.B, n int) *fleet {
	b.Helper()
	if f := fs.bySize[n]; f != nil {
		return f
	}
	f := seedFleet(b, fs.parent, n)
	fs.bySize[n] = f
	return f
}

// seedFleet writes a fleet of n keys in bulk, in a database that lives as
// long as owner, and says how long it took.
func seedFleet(b, owner *testing.B, n int) *fleet {
	b.Helper()
	began := time.Now()
	db, bridge := benchDB(owner)
	f := &fleet{base: db.C("presence"), bridge: bridge, n: n}
	uuid := benchModel.Id()
	beings := db.C("presence.beings")
	const perInsert = 1000
	docs := make([]interface{}, 0, perInsert)
	alive, dead := map[int64]uint64{}, map[int64]uint64{}
	for seq := int64(1); seq <= int64(n); seq++ {
		docs = append(docs, bson.D{
			{Name: "_id", Value: uuid + ":" + strconv.FormatInt(seq, 10)},
			{Name: "seq", Value: seq},
			{Name: "key", Value: keyOfSeq(seq)},
		})
		if len(docs) == perInsert || seq == int64(n) {
			if err := beings.Insert(docs...); err != nil {
				b.Fatalf("seeding beings: %v", err)
			}
			if seq%20000 == 0 {
				b.Logf("seeded %d beings in %v", seq, time.Since(began).Round(time.Millisecond))
			}
			docs = docs[:0]
		}
		index, bit := seq/bitfield.BitsPerField, uint64(1)<<uint(seq%bitfield.BitsPerField)
		alive[index] |= bit
		if seq%100 == 0 {
			dead[index] |= bit
		}
	}
	f.alive, f.dead = fieldsDoc(alive), fieldsDoc(dead)
	err := db.C("presence.seqs").Insert(bson.M{"_id": uuid + ":beings", "seq": int64(n)})
	if err == nil {
		err = db.C("presence.pings").Insert(bson.M{"_id": slotID(benchSlot), "slot": benchSlot, "alive": f.alive})
	}
	if err != nil {
		b.Fatalf("seeding: %v", err)
	}
	b.Logf("seeded %d beings and one slot document of %d fields in %v", n, len(f.alive), time.Since(began).Round(time.Millisecond))
	return f
}

func fieldsDoc(words map[int64]uint64) bson.M {
	doc := make(bson.M, len(words))
	for index, word := range words {
		doc[strconv.FormatInt(index, 16)] = int64(word)
	}
	return doc
}

func slotID(slotNum int64) string {
	return benchModel.Id() + ":" + strconv.FormatInt(slotNum, 10)
}

// setKilled writes or removes the dead part of the fleet's slot document,
// turning 1% of the keys dead or alive again.
func (f *fleet) setKilled(b *testing.B, killed bool) {
	b.Helper()
	pings := f.base.Database.C("presence.pings")
	update := bson.M{"$unset": bson.M{"dead": 1}}
	if killed {
		update = bson.M{"$set": bson.M{"dead": f.dead}}
	}
	if err := pings.UpdateId(slotID(benchSlot), update); err != nil {
		b.Fatalf("changing the slot document: %v", err)
	}
}

// startWatcher returns a watcher of the fleet that has done its first sync.
func (f *fleet) startWatcher(b *testing.B) *presence.Watcher {
	b.Helper()
	w := presence.NewWatcherWithOptions(f.base, benchModel, benchOpts()...)
	w.Sync()
	if err := w.Err(); err != tomb.ErrStillAlive {
		b.Fatalf("watcher: %v", err)
	}
	if alive, err := w.Alive(keyOfSeq(int64(f.n))); err != nil || !alive {
		b.Fatalf("%s is not alive after the first sync (err %v)", keyOfSeq(int64(f.n)), err)
	}
	return w
}

func stopWatcher(b *testing.B, w *presence.Watcher) {
	b.Helper()
	if err := w.Stop(); err != nil {
		b.Fatalf("stopping watcher: %v", err)
	}
}

// roundTrips counts the queries that reached the server: finds and the
// getMores that fetch the rest of their results.
func (f *fleet) roundTrips() (finds, getMores int) {
	if f.bridge == nil {
		return 0, 0
	}
	st := f.bridge.Stats()
	return st.Commands["find"], st.Commands["getMore"]
}

// heapInUse returns the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkWatcherSync measures a steady-state Watcher.Sync, end to end,
// over a fleet of n live keys: with nothing changed, and with 1% of the
// keys changing at every sync (alternately killed and revived, written
// with the timer stopped). roundtrips/op counts the finds and getMores
// each sync sends.
func BenchmarkWatcherSync(b *testing.B) {
	fs := newFleets(b)
	for _, n := range benchSizes {
		for _, churn := range []string{"0", "1%"} {
			b.Run(fmt.Sprintf("keys=%d/changed=%s", n, churn), func(b *testing.B) {
				f := fs.get(b, n)
				w := f.startWatcher(b)
				defer stopWatcher(b, w)
				killed := false
				finds, getMores := f.roundTrips()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if churn != "0" {
						b.StopTimer()
						killed = !killed
						f.setKilled(b, killed)
						b.StartTimer()
					}
					w.Sync()
				}
				b.StopTimer()
				if alive, _ := w.Alive(keyOfSeq(100)); alive == killed {
					b.Fatalf("%s alive=%v after the last sync, want %v", keyOfSeq(100), alive, !killed)
				}
				findsAfter, getMoresAfter := f.roundTrips()
				if killed {
					f.setKilled(b, false)
				}
				b.ReportMetric(float64(findsAfter-finds+getMoresAfter-getMores)/float64(b.N), "roundtrips/op")
			})
		}
	}
}

// BenchmarkWatcherColdStart measures a new watcher's first sync over n
// live sequences it has never seen: the slot read plus the batched being
// lookups. lookups/op counts the finds on the beings collection.
func BenchmarkWatcherColdStart(b *testing.B) {
	fs := newFleets(b)
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			f := fs.get(b, n)
			b.ResetTimer()
			finds, getMores := f.roundTrips()
			for i := 0; i < b.N; i++ {
				w := f.startWatcher(b)
				b.StopTimer()
				stopWatcher(b, w)
				b.StartTimer()
			}
			b.StopTimer()
			findsAfter, getMoresAfter := f.roundTrips()
			// One find per watcher reads the slots; the rest are lookups.
			b.ReportMetric(float64(findsAfter-finds-b.N)/float64(b.N), "lookups/op")
			b.ReportMetric(float64(getMoresAfter-getMores)/float64(b.N), "getmores/op")
		})
	}
}

// BenchmarkWatcherHeap measures the heap held by a watcher that follows n
// live keys, after its first sync.
func BenchmarkWatcherHeap(b *testing.B) {
	fs := newFleets(b)
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			f := fs.get(b, n)
			var grown float64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				before := heapInUse()
				b.StartTimer()
				w := f.startWatcher(b)
				b.StopTimer()
				grown += float64(heapInUse()) - float64(before)
				stopWatcher(b, w)
				b.StartTimer()
			}
			b.ReportMetric(grown/float64(b.N)/1e6, "heap-MB")
		})
	}
}

// fieldOf returns the field and bit of seq, as a Pinger would send them.
func fieldOf(b *testing.B, seq int64) (string, uint64) {
	fieldKey, fieldBit, err := bitfield.Encode(seq)
	if err != nil {
		b.Fatal(err)
	}
	return fieldKey, fieldBit
}

func newBenchBatcher(b *testing.B) (*presence.PingBatcher, *wirebridge.Bridge) {
	db, bridge := benchDB(b)
	return presence.NewPingBatcherWithOptions(db.C("presence"), benchOpts()...), bridge
}

func stopBatcher(b *testing.B, pb *presence.PingBatcher) {
	b.Helper()
	if err := pb.Stop(); err != nil {
		b.Fatalf("stopping batcher: %v", err)
	}
}

// BenchmarkPingBatcherPing measures Ping in steady state: the same model
// and slot as the previous ping.
func BenchmarkPingBatcherPing(b *testing.B) {
	pb, _ := newBenchBatcher(b)
	defer stopBatcher(b, pb)
	uuid := benchModel.Id()
	fieldKey, fieldBit := fieldOf(b, 42)
	b.ReportAllocs()
	for b.Loop() {
		if err := pb.Ping(uuid, benchSlot, fieldKey, fieldBit); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPingBatcherPingParallel is BenchmarkPingBatcherPing with eight
// goroutines pinging at once, each for its own sequence.
func BenchmarkPingBatcherPingParallel(b *testing.B) {
	pb, _ := newBenchBatcher(b)
	defer stopBatcher(b, pb)
	uuid := benchModel.Id()
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((8 + procs - 1) / procs)
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(p *testing.PB) {
		fieldKey, fieldBit := fieldOf(b, next.Add(1))
		for p.Next() {
			if err := pb.Ping(uuid, benchSlot, fieldKey, fieldBit); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkPingBatcherFlush measures one flush of n agents of one model and
// slot, each pinging once: upserts/flush counts the update statements that
// reached the server, which must be one whatever n is.
func BenchmarkPingBatcherFlush(b *testing.B) {
	for _, n := range []int{1, 1000, 100000} {
		b.Run(fmt.Sprintf("agents=%d", n), func(b *testing.B) {
			pb, bridge := newBenchBatcher(b)
			defer stopBatcher(b, pb)
			if bridge == nil {
				b.Skip("no bridge to count writes against an external server")
			}
			uuid := benchModel.Id()
			fieldKeys := make([]string, n)
			fieldBits := make([]uint64, n)
			for i := range fieldKeys {
				fieldKeys[i], fieldBits[i] = fieldOf(b, int64(i+1))
			}
			before := bridge.Stats()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := range fieldKeys {
					if err := pb.Ping(uuid, benchSlot, fieldKeys[j], fieldBits[j]); err != nil {
						b.Fatal(err)
					}
				}
				if err := pb.Sync(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			after := bridge.Stats()
			b.ReportMetric(float64(after.UpdateStatements-before.UpdateStatements)/float64(b.N), "upserts/flush")
			b.ReportMetric(float64(after.Commands["update"]-before.Commands["update"])/float64(b.N), "updatecmds/flush")
		})
	}
}

// BenchmarkPingBatcherHeap measures the heap a batcher holds for one slot
// of n agents, between two flushes.
func BenchmarkPingBatcherHeap(b *testing.B) {
	const n = 100000
	b.Run(fmt.Sprintf("agents=%d", n), func(b *testing.B) {
		uuid := benchModel.Id()
		fieldKeys := make([]string, n)
		fieldBits := make([]uint64, n)
		for i := range fieldKeys {
			fieldKeys[i], fieldBits[i] = fieldOf(b, int64(i+1))
		}
		var grown float64
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			pb, _ := newBenchBatcher(b)
			before := heapInUse()
			b.StartTimer()
			for j := range fieldKeys {
				if err := pb.Ping(uuid, benchSlot, fieldKeys[j], fieldBits[j]); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			grown += float64(heapInUse()) - float64(before)
			stopBatcher(b, pb)
			b.StartTimer()
		}
		b.ReportMetric(grown/float64(b.N)/1e6, "heap-MB")
	})
}
