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
	for _, n := range []int{10000, 100000, 1000000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			var perKey float64
			for i := 0; i < b.N; i++ {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				tr := NewTracker()
				for seq := int64(1); seq <= int64(n); seq++ {
					tr.Set(seq, "machine-"+strconv.FormatInt(seq, 10), Alive)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				perKey = float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
				runtime.KeepAlive(tr)
			}
			b.ReportMetric(perKey, "B/key")
		})
	}
}

// BenchmarkTrackerHeapBatch is BenchmarkTrackerHeap with the keys set the
// way a watcher's first sync sets them, in one batch (Begin, Set for each,
// End): what the tracker keeps once the batch is over, per key.
func BenchmarkTrackerHeapBatch(b *testing.B) {
	for _, n := range []int{10000, 100000, 1000000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			var perKey float64
			for i := 0; i < b.N; i++ {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				tr := NewTracker()
				tr.Begin()
				for seq := int64(1); seq <= int64(n); seq++ {
					tr.Set(seq, "machine-"+strconv.FormatInt(seq, 10), Alive)
				}
				tr.End(func(string, bool) {})
				runtime.GC()
				runtime.ReadMemStats(&after)
				perKey = float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
				runtime.KeepAlive(tr)
			}
			b.ReportMetric(perKey, "B/key")
		})
	}
}
