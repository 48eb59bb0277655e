package benchsuite

import (
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/presence-go/presence/liveness"
)

// jujuServerSizes are the fleet sizes at which the Juju sketch is run on
// the test server. FerretDB's SQLite handler answers a lookup of a
// thousand ids by _id $in by scanning the whole beings collection and
// comparing each document with each id; the sketch looks up a 100,000-key
// model in a hundred such lookups, each of which scans 100,000 beings, and
// that takes about half an hour there, where MongoDB's _id index answers
// each in milliseconds. Larger sizes are compared in memory
// (BenchmarkVersusJuju*), with the database taken out for both.
var jujuServerSizes = []int{1000, 10000}

// BenchmarkJujuColdStart measures the Juju sketch's first sync on the
// test server, over the same fleets and through the same driver (mgo) as
// BenchmarkColdStart/face=mgo measures the library's watcher: the slot
// read and the lookups of every sequence. roundtrips/op counts finds and
// getMores; heap-MB is the heap its maps keep. Each op is the median of
// coldReps(n) cold starts.
func BenchmarkJujuColdStart(b *testing.B) {
	for _, n := range jujuServerSizes {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			s := sharedServer(b)
			f := sharedFleet(b, n)
			db := newMgoJujuDB(f.db)
			coldStarts(b, s, b.N*coldReps(n), func() (after func()) {
				w := newJujuWatcher(db, fleetModel)
				if err := w.sync(benchSlot); err != nil {
					b.Fatal(err)
				}
				return func() { checkJujuFleet(b, w, n) }
			})
		})
	}
}

// checkJujuFleet checks that the sketch follows every key of a fleet of n.
func checkJujuFleet(b *testing.B, w *jujuWatcher, n int) {
	b.Helper()
	if len(w.beingSeq) != n || !w.alive(keyOfSeq(int64(n))) {
		b.Fatalf("the sketch follows %d keys, want %d", len(w.beingSeq), n)
	}
}

// versusSizes are the fleet sizes of the comparison with the database
// taken out.
var versusSizes = []int{1000, 10000, 100000, million}

// memFleets holds the in-memory fleets by size.
var memFleets struct {
	sync.Mutex
	bySize map[int]*memStore
}

func sharedMemFleet(n int) *memStore {
	memFleets.Lock()
	defer memFleets.Unlock()
	if m := memFleets.bySize[n]; m != nil {
		return m
	}
	if memFleets.bySize == nil {
		memFleets.bySize = map[int]*memStore{}
	}
	m := newMemFleet(n)
	memFleets.bySize[n] = m
	return m
}

// implementations are the two watchers of the comparison, each as a cold
// start that returns how to sync again and the watcher, to keep alive
// while its heap is measured and to stop. (A watcher stopped by
// b.Cleanup would stay reachable until the testing package runs the
// cleanups, in the middle of the next measure.)
var implementations = []struct {
	name  string
	start func(b *testing.B, m *memStore, n int) (sync func(), keep any)
}{
	{"juju", func(b *testing.B, m *memStore, n int) (func(), any) {
		w := newJujuWatcher(m, fleetModel)
		if err := w.sync(benchSlot); err != nil {
			b.Fatal(err)
		}
		checkJujuFleet(b, w, n)
		return func() {
			if err := w.sync(benchSlot); err != nil {
				b.Fatal(err)
			}
		}, w
	}},
	{"presence", func(b *testing.B, m *memStore, n int) (func(), any) {
		w := startWatcher(b, m, n)
		return w.Sync, w
	}},
}

// stop stops what an implementation started, if it runs.
func stop(keep any) {
	if w, ok := keep.(*liveness.Watcher); ok {
		w.Stop()
	}
}

// BenchmarkVersusJujuColdStart measures the first sync of the Juju
// sketch and of the library's watcher with the database taken out: both
// read the same raw documents from memory (newMemFleet), so what is
// measured is what each costs its controller in CPU and heap. heap-MB is
// the heap each keeps afterwards, after a forced collection.
func BenchmarkVersusJujuColdStart(b *testing.B) {
	for _, n := range versusSizes {
		for _, impl := range implementations {
			b.Run(fmt.Sprintf("impl=%s/keys=%d", impl.name, n), func(b *testing.B) {
				m := sharedMemFleet(n)
				var heapGrown float64
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					before := heapInUse()
					b.StartTimer()
					_, keep := impl.start(b, m, n)
					b.StopTimer()
					heapGrown += float64(heapInUse()) - float64(before)
					runtime.KeepAlive(keep)
					stop(keep)
					b.StartTimer()
				}
				b.StopTimer()
				b.ReportMetric(heapGrown/float64(b.N)/1e6, "heap-MB")
			})
		}
	}
}

// BenchmarkVersusJujuSync measures a steady sync, nothing changed, of
// the Juju sketch and of the library's watcher with the database taken
// out: the CPU a watcher spends each period once the documents arrive.
func BenchmarkVersusJujuSync(b *testing.B) {
	for _, n := range versusSizes {
		for _, impl := range implementations {
			b.Run(fmt.Sprintf("impl=%s/keys=%d", impl.name, n), func(b *testing.B) {
				m := sharedMemFleet(n)
				sync, keep := impl.start(b, m, n)
				defer stop(keep)
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					sync()
				}
				b.StopTimer()
			})
		}
	}
}
