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
	// owner is the benchmark whose end drops the database.
	owner *testing.B
	// watcher follows the whole fleet once follow has run; heapGrown is
	// the heap it took.
	watcher   *presence.Watcher
	heapGrown float64
	// resolvable is set when every being is in the database.
	resolvable bool
	// alive is the slot document's alive part; dead kills 1% of the keys
	// (every hundredth sequence).
	alive, dead bson.M
}

func keyOfSeq(seq int64) string { return "machine-" + strconv.FormatInt(seq, 10) }

// seeding says what a fleet's database starts with.
type seeding int

const (
	// withBeings: every being document and the slot document; what a new
	// watcher of a running fleet finds.
	withBeings seeding = iota
	// withoutBeings: the slot document alone, so that lookups find
	// nothing and cost the server next to nothing.
	withoutBeings
	// staged: nothing; fleet.follow brings a watcher up to the whole fleet
	// in stages.
	staged
)

// fleets seeds each size once for a top-level benchmark, on first use by
// one of its sub-benchmarks, so that sizes filtered out by -bench cost
// nothing. The databases belong to the top-level benchmark.
type fleets struct {
	parent *testing.B
	seed   seeding
	bySize map[int]*fleet
}

func newFleets(parent *testing.B, seed seeding) *fleets {
	return &fleets{parent: parent, seed: seed, bySize: make(map[int]*fleet)}
}

// get returns the fleet of n keys, seeding it first if need be.
func (fs *fleets) get(b *testing.B, n int) *fleet {
	b.Helper()
	if f := fs.bySize[n]; f != nil {
		return f
	}
	f := seedFleet(b, fs.parent, n, fs.seed)
	fs.bySize[n] = f
	return f
}

// seedFleet writes a fleet of n keys in bulk, in a database that lives as
// long as owner, and says how long it took.
func seedFleet(b, owner *testing.B, n int, seed seeding) *fleet {
	b.Helper()
	began := time.Now()
	db, bridge := benchDB(owner)
	f := &fleet{base: db.C("presence"), owner: owner, bridge: bridge, n: n, resolvable: seed == withBeings}
	alive, dead := map[int64]uint64{}, map[int64]uint64{}
	for seq := int64(1); seq <= int64(n); seq++ {
		index, bit := seq/bitfield.BitsPerField, uint64(1)<<uint(seq%bitfield.BitsPerField)
		alive[index] |= bit
		if seq%100 == 0 {
			dead[index] |= bit
		}
	}
	f.alive, f.dead = fieldsDoc(alive), fieldsDoc(dead)
	err := db.C("presence.seqs").Insert(bson.M{"_id": benchModel.Id() + ":beings", "seq": int64(n)})
	if err == nil && seed != staged {
		err = db.C("presence.pings").Insert(bson.M{"_id": modelDocID(benchSlot), "slot": benchSlot, "alive": f.alive})
	}
	if err != nil {
		b.Fatalf("seeding: %v", err)
	}
	if seed == withBeings {
		f.insertBeings(b, 1, int64(n))
	}
	b.Logf("seeded %d keys (%v) in %v", n, seed, time.Since(began).Round(time.Millisecond))
	return f
}

func (s seeding) String() string {
	return [...]string{"with beings", "without beings", "staged"}[s]
}

// insertBeings writes the being documents of sequences first..last, a
// thousand per insert command.
func (f *fleet) insertBeings(b *testing.B, first, last int64) {
	b.Helper()
	beings := f.base.Database.C("presence.beings")
	const perInsert = 1000
	docs := make([]interface{}, 0, perInsert)
	for seq := first; seq <= last; seq++ {
		docs = append(docs, bson.D{
			{Name: "_id", Value: modelDocID(seq)},
			{Name: "seq", Value: seq},
			{Name: "key", Value: keyOfSeq(seq)},
		})
		if len(docs) == perInsert || seq == last {
			if err := beings.Insert(docs...); err != nil {
				b.Fatalf("seeding beings: %v", err)
			}
			docs = docs[:0]
		}
	}
}

// follow returns a watcher that follows every key of a staged fleet, and
// the heap it grew by. On the SQLite test server a lookup of a thousand
// beings costs in proportion to the collection's size, so a cold start
// over 100,000 beings takes about half an hour there. Instead, the keys
// come alive a thousand at a time, with only their beings in the
// collection: each stage inserts them, ORs their bits into the slot
// document, syncs the watcher (one lookup) and drops the beings again.
// The watcher ends in the state a cold start would leave it in. It is
// started once per fleet and stopped when the fleet's owner ends.
func (f *fleet) follow(b *testing.B) (*presence.Watcher, float64) {
	b.Helper()
	if f.watcher != nil {
		return f.watcher, f.heapGrown
	}
	began := time.Now()
	before := heapInUse()
	w := presence.NewWatcherWithOptions(f.base, benchModel, benchOpts()...)
	f.owner.Cleanup(func() { w.Stop() })
	pings := f.base.Database.C("presence.pings")
	beings := f.base.Database.C("presence.beings")
	const stage = 1000
	for first := int64(1); first <= int64(f.n); first += stage {
		last := min(first+stage-1, int64(f.n))
		f.insertBeings(b, first, last)
		words := map[int64]uint64{}
		for seq := first; seq <= last; seq++ {
			words[seq/bitfield.BitsPerField] |= uint64(1) << uint(seq%bitfield.BitsPerField)
		}
		bits := bson.M{}
		for index, word := range words {
			bits["alive."+strconv.FormatInt(index, 16)] = bson.M{"or": int64(word)}
		}
		update := bson.M{"$set": bson.M{"slot": benchSlot}, "$bit": bits}
		if _, err := pings.UpsertId(modelDocID(benchSlot), update); err != nil {
			b.Fatalf("staging the slot document: %v", err)
		}
		w.Sync()
		if alive, err := w.Alive(keyOfSeq(last)); err != nil || !alive {
			b.Fatalf("%s is not alive after its stage (err %v)", keyOfSeq(last), err)
		}
		if err := beings.DropCollection(); err != nil {
			b.Fatalf("dropping the staged beings: %v", err)
		}
	}
	f.watcher, f.heapGrown = w, float64(heapInUse())-float64(before)
	b.Logf("a watcher follows %d keys after %v of staging", f.n, time.Since(began).Round(time.Millisecond))
	return f.watcher, f.heapGrown
}

func fieldsDoc(words map[int64]uint64) bson.M {
	doc := make(bson.M, len(words))
	for index, word := range words {
		doc[strconv.FormatInt(index, 16)] = int64(word)
	}
	return doc
}

// modelDocID is the _id of the model's document named by n, a slot or a
// sequence.
func modelDocID(n int64) string {
	return benchModel.Id() + ":" + strconv.FormatInt(n, 10)
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
	if err := pings.UpdateId(modelDocID(benchSlot), update); err != nil {
		b.Fatalf("changing the slot document: %v", err)
	}
}

// startWatcher returns a watcher of the fleet that has done its first sync.
func (f *fleet) startWatcher(b *testing.B) *presence.Watcher {
	b.Helper()
	w := presence.NewWatcherWithOptions(f.base, benchModel, benchOpts()...)
	// The loop syncs before it answers any request, so Alive returns once
	// the first sync is done.
	alive, err := w.Alive(keyOfSeq(int64(f.n)))
	if err != nil {
		b.Fatalf("watcher: %v", err)
	}
	if f.resolvable && !alive {
		b.Fatalf("%s is not alive after the first sync", keyOfSeq(int64(f.n)))
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
// each sync sends. The watcher is brought up by fleet.follow.
func BenchmarkWatcherSync(b *testing.B) {
	fs := newFleets(b, staged)
	for _, n := range benchSizes {
		for _, churn := range []string{"0", "1%"} {
			b.Run(fmt.Sprintf("keys=%d/changed=%s", n, churn), func(b *testing.B) {
				f := fs.get(b, n)
				w, _ := f.follow(b)
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
					w.Sync()
				}
				b.ReportMetric(float64(findsAfter-finds+getMoresAfter-getMores)/float64(b.N), "roundtrips/op")
			})
		}
	}
}

// coldStartLimit is the largest fleet whose cold start is timed. Since a
// watcher reads a large model's beings in one range instead of one $in
// lookup per thousand ids (which the SQLite test server answered with a
// scan of the collection each), every size of the curve is timed.
const coldStartLimit = 100000

// BenchmarkWatcherColdStart measures a new watcher's first sync over n
// live sequences it has never seen: the slot read plus the batched being
// lookups. lookups/op counts the finds on the beings collection.
func BenchmarkWatcherColdStart(b *testing.B) {
	fs := newFleets(b, withBeings)
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			if n > coldStartLimit && testserver.Shared(b).Bridge() != nil {
				b.Skipf("%d beings: too slow on the SQLite test server; see BenchmarkWatcherColdStartLookups", n)
			}
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

// BenchmarkWatcherColdStartLookups counts the being lookups of a new
// watcher's first sync over n live unknown sequences whose beings are not
// in the database, so that the server answers each at once: the count,
// not the time, is the figure.
func BenchmarkWatcherColdStartLookups(b *testing.B) {
	fs := newFleets(b, withoutBeings)
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			f := fs.get(b, n)
			b.ResetTimer()
			finds, _ := f.roundTrips()
			for i := 0; i < b.N; i++ {
				w := f.startWatcher(b)
				b.StopTimer()
				stopWatcher(b, w)
				b.StartTimer()
			}
			b.StopTimer()
			findsAfter, _ := f.roundTrips()
			b.ReportMetric(float64(findsAfter-finds-b.N)/float64(b.N), "lookups/op")
		})
	}
}

// BenchmarkWatcherHeap reports the heap held by a watcher that follows n
// live keys (heap-MB), measured around fleet.follow; the time is that of
// an Alive call.
func BenchmarkWatcherHeap(b *testing.B) {
	fs := newFleets(b, staged)
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			f := fs.get(b, n)
			w, grown := f.follow(b)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := w.Alive(keyOfSeq(1)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(grown/1e6, "heap-MB")
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

// BenchmarkLoad is a small end-to-end load run: real Pingers of several
// models started through one batcher, one watcher per model following all
// of them, then one kill per op. The time per op is the delay from
// KillForTesting to the watcher's Change, with the watcher asked to sync
// at once (a watcher left to itself adds up to one period). upserts/flush
// is what one flush of every agent's ping writes: with the default flush
// interval of a second it is also the writes per second to the server.
func BenchmarkLoad(b *testing.B) {
	const agents, models = 300, 3
	b.Run(fmt.Sprintf("agents=%d/models=%d", agents, models), func(b *testing.B) {
		if b.N > agents {
			b.Fatalf("b.N=%d is more kills than the %d agents", b.N, agents)
		}
		db, bridge := benchDB(b)
		base := db.C("presence")
		pb := presence.NewPingBatcherWithOptions(base, benchOpts()...)
		defer stopBatcher(b, pb)
		tags := make([]names.ModelTag, models)
		for m := range tags {
			tags[m] = names.NewModelTag(fmt.Sprintf("10ad0000-0000-4000-8000-%012d", m))
		}
		pingers := make([]*presence.Pinger, agents)
		began := time.Now()
		for i := range pingers {
			p := presence.NewPingerWithOptions(base, tags[i%models], unitKey(i),
				func() presence.PingRecorder { return pb }, benchOpts()...)
			if err := p.Start(); err != nil {
				b.Fatalf("starting pinger %d: %v", i, err)
			}
			defer p.Stop()
			pingers[i] = p
		}
		startSeconds := time.Since(began).Seconds()
		var before wirebridge.Stats
		if bridge != nil {
			before = bridge.Stats()
		}
		if err := pb.Sync(); err != nil {
			b.Fatal(err)
		}
		upserts := 0
		if bridge != nil {
			upserts = bridge.Stats().UpdateStatements - before.UpdateStatements
		}
		watchers := make([]*presence.Watcher, models)
		changes := make(chan presence.Change, agents)
		for m := range watchers {
			w := presence.NewWatcherWithOptions(base, tags[m], benchOpts()...)
			defer stopWatcher(b, w)
			watchers[m] = w
		}
		for i := range pingers {
			watchers[i%models].Watch(unitKey(i), changes)
			if c := <-changes; !c.Alive {
				b.Fatalf("%s is not alive after the flush", c.Key)
			}
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := pingers[i].KillForTesting(); err != nil {
				b.Fatal(err)
			}
			watchers[i%models].StartSync()
			select {
			case c := <-changes:
				if c != (presence.Change{Key: unitKey(i), Alive: false}) {
					b.Fatalf("got %+v after killing %s", c, unitKey(i))
				}
			case <-time.After(waitTimeout):
				b.Fatalf("no Change within %v of killing %s", waitTimeout, unitKey(i))
			}
		}
		b.StopTimer()
		// ResetTimer drops metrics reported before it: report them now.
		b.ReportMetric(float64(agents)/startSeconds, "starts/s")
		if bridge != nil {
			b.ReportMetric(float64(upserts), "upserts/flush")
		}
	})
}

func unitKey(i int) string { return "unit-" + strconv.Itoa(i) }
