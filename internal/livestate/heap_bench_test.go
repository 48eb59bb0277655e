package livestate

import (
	"fmt"
	"runtime"
	"strconv"
	"testing"
)

// BenchmarkTrackerHeap measures the heap a tracker keeps for n keys of one
// sequence each, named as Juju names machines, per key.
func BenchmarkTrackerHeap(b *testing.B) {
	benchTrackerHeap(b, setKeys)
}

// BenchmarkTrackerHeapBatch is BenchmarkTrackerHeap with the keys set the
// way a watcher's first sync sets them, in one batch (Begin, Set for each,
// End): what the tracker keeps once the batch is over, per key.
func BenchmarkTrackerHeapBatch(b *testing.B) {
	benchTrackerHeap(b, func(tr *Tracker, n int) {
		tr.Begin()
		setKeys(tr, n)
		tr.End(func(string, bool) {})
	})
}

// setKeys sets sequences 1 to n alive, each with a key of its own.
func setKeys(tr *Tracker, n int) {
	for seq := int64(1); seq <= int64(n); seq++ {
		tr.Set(seq, "machine-"+strconv.FormatInt(seq, 10), Alive)
	}
}

// benchTrackerHeap reports, per key, the heap a new tracker keeps once
// fill has given it n keys, at each size.
func benchTrackerHeap(b *testing.B, fill func(tr *Tracker, n int)) {
	for _, n := range []int{10000, 100000, 1000000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			var perKey float64
			for i := 0; i < b.N; i++ {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				tr := NewTracker()
				fill(tr, n)
				runtime.GC()
				runtime.ReadMemStats(&after)
				perKey = float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
				runtime.KeepAlive(tr)
			}
			b.ReportMetric(perKey, "B/key")
		})
	}
}
