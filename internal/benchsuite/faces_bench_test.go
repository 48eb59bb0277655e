package benchsuite

import (
	"fmt"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presence-go/presence/internal/layout"
	"github.com/presence-go/presence/liveness"
)

// syncSizes are the fleet sizes of the end-to-end curves. The faces are
// compared up to 100,000 keys; a million is measured on the official face
// alone, since seeding and cold-starting it takes minutes on the test
// server.
var syncSizes = []int{1000, 10000, 100000, million}

// skipBothFaces skips the mgo face at a million keys.
func skipBothFaces(b *testing.B, fc face, n int) {
	if n >= million && fc.name != "official" {
		b.Skip("a million keys is measured on the official face only")
	}
}

// BenchmarkPing measures PingBatcher.Ping in steady state on each face:
// the same model and slot as the previous ping. The face changes only
// how the batcher will write; a ping never touches the database.
func BenchmarkPing(b *testing.B) {
	for _, fc := range faces {
		b.Run("face="+fc.name, func(b *testing.B) {
			d := sharedServer(b).newDatabase(b, "ping")
			pb := liveness.NewPingBatcher(fc.store(b, d), frozenOpts()...)
			defer stopWorker(b, pb)
			fieldKey, fieldBit := fieldOf(b, 42)
			b.ReportAllocs()
			for b.Loop() {
				if err := pb.Ping(fleetModel, benchSlot, fieldKey, fieldBit); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPingParallel is BenchmarkPing (official face) with eight
// goroutines pinging at once, each for its own sequence.
func BenchmarkPingParallel(b *testing.B) {
	d := sharedServer(b).newDatabase(b, "pingparallel")
	pb := liveness.NewPingBatcher(faces[1].store(b, d), frozenOpts()...)
	defer stopWorker(b, pb)
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((8 + procs - 1) / procs)
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(p *testing.PB) {
		fieldKey, fieldBit := fieldOf(b, next.Add(1))
		for p.Next() {
			if err := pb.Ping(fleetModel, benchSlot, fieldKey, fieldBit); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkSteadySync measures a watcher's Sync end to end, on each face,
// over a fleet of n live keys the watcher already follows: with nothing
// changed, and with 1% of the keys changing at every sync (alternately
// killed and revived, written with the timer stopped). roundtrips/op
// counts the finds and getMores each sync sends. Each op is the median of
// syncReps(n) syncs: the machine is shared, and a burst of other work
// during one sync should not move the figure.
func BenchmarkSteadySync(b *testing.B) {
	for _, n := range syncSizes {
		for _, fc := range faces {
			for _, churn := range []string{"0", "1%"} {
				b.Run(fmt.Sprintf("face=%s/keys=%d/changed=%s", fc.name, n, churn), func(b *testing.B) {
					skipBothFaces(b, fc, n)
					s := sharedServer(b)
					f := sharedFleet(b, n)
					w := f.follower(b, fc)
					killed := false
					ops := b.N * syncReps(n)
					times := make([]time.Duration, 0, ops)
					before := s.snapshot()
					b.ResetTimer()
					for i := 0; i < ops; i++ {
						if churn != "0" {
							b.StopTimer()
							killed = !killed
							f.setKilled(b, killed)
							b.StartTimer()
						}
						began := time.Now()
						w.Sync()
						times = append(times, time.Since(began))
					}
					b.StopTimer()
					trips := s.since(before).reads()
					if alive, _ := w.Alive(keyOfSeq(100)); alive == killed {
						b.Fatalf("%s alive=%v after the last sync, want %v", keyOfSeq(100), alive, !killed)
					}
					if killed {
						f.setKilled(b, false)
						w.Sync()
					}
					b.ReportMetric(float64(median(times).Nanoseconds()), "ns/op")
					if s.counted() {
						b.ReportMetric(float64(trips)/float64(ops), "roundtrips/op")
					}
				})
			}
		}
	}
}

// syncReps is how many syncs an op of BenchmarkSteadySync times: the suite
// runs its database benchmarks once each (-benchtime 1x), since the fleets
// are seeded once per process and a million keys take a minute to seed.
func syncReps(n int) int {
	switch {
	case n <= 10000:
		return 20
	case n <= 100000:
		return 10
	}
	return 3
}

// coldReps is how many cold starts an op of BenchmarkColdStart times.
func coldReps(n int) int {
	switch {
	case n <= 1000:
		return 10
	case n <= 10000:
		return 3
	}
	return 1
}

// BenchmarkColdStart measures a new watcher's first sync, on each face,
// over n live sequences it has never met: the slot read, then the keys of
// the sequences, read from the beings collection (by id up to a hundred
// unknown sequences, else the model's whole range: see readWholeModel). roundtrips/op counts
// the finds and getMores; heap-MB is the heap the watcher keeps once
// started (after a forced collection, the watcher still running). Each op
// is the median of coldReps(n) cold starts.
func BenchmarkColdStart(b *testing.B) {
	for _, n := range syncSizes {
		for _, fc := range faces {
			b.Run(fmt.Sprintf("face=%s/keys=%d", fc.name, n), func(b *testing.B) {
				skipBothFaces(b, fc, n)
				s := sharedServer(b)
				f := sharedFleet(b, n)
				store := fc.store(b, f.db)
				coldStarts(b, s, b.N*coldReps(n), func() (after func()) {
					w := startWatcher(b, store, n)
					return func() { stopWorker(b, w) }
				})
			})
		}
	}
}

// coldStarts times ops cold starts on s, each made by start, and reports
// the median as ns/op, the finds and getMores of each as roundtrips/op (when
// s counts them), and the heap each keeps as heap-MB. The after func that
// start returns runs untimed, once that heap is measured.
func coldStarts(b *testing.B, s *server, ops int, start func() (after func())) {
	b.Helper()
	times := make([]time.Duration, 0, ops)
	var trips int
	var heapGrown float64
	b.ResetTimer()
	for i := 0; i < ops; i++ {
		b.StopTimer()
		before := heapInUse()
		counted := s.snapshot()
		b.StartTimer()
		began := time.Now()
		after := start()
		times = append(times, time.Since(began))
		b.StopTimer()
		trips += s.since(counted).reads()
		heapGrown += float64(heapInUse()) - float64(before)
		after()
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(median(times).Nanoseconds()), "ns/op")
	if s.counted() {
		b.ReportMetric(float64(trips)/float64(ops), "roundtrips/op")
	}
	b.ReportMetric(heapGrown/float64(ops)/1e6, "heap-MB")
}

// startWatcher returns a watcher of the fleet model that has done its
// first sync and found key n alive.
func startWatcher(b *testing.B, store liveness.Store, n int) *liveness.Watcher {
	b.Helper()
	w := liveness.NewWatcher(store, fleetModel, frozenOpts()...)
	// The loop syncs before it answers any request, so Alive returns once
	// the first sync is done.
	alive, err := w.Alive(keyOfSeq(int64(n)))
	if err != nil {
		b.Fatalf("watcher: %v", err)
	}
	if !alive {
		b.Fatalf("%s is not alive after the first sync", keyOfSeq(int64(n)))
	}
	return w
}

// worker is what every worker of package liveness can do.
type worker interface{ Stop() error }

func stopWorker(b testing.TB, w worker) {
	b.Helper()
	if err := w.Stop(); err != nil {
		b.Fatalf("stopping %T: %v", w, err)
	}
}

// fieldOf returns the field and bit of seq, as a Pinger would send them.
func fieldOf(b testing.TB, seq int64) (string, uint64) {
	fieldKey, fieldBit, err := layout.FieldOf(seq)
	if err != nil {
		b.Fatal(err)
	}
	return fieldKey, fieldBit
}

// median returns the middle of times (the upper one of an even count).
func median(times []time.Duration) time.Duration {
	sorted := slices.Clone(times)
	slices.Sort(sorted)
	return sorted[len(sorted)/2]
}

// heapInUse returns the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
