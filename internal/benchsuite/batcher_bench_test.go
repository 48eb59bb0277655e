package benchsuite

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/presence-go/presence/internal/memstore"
	"github.com/presence-go/presence/liveness"
)

// BenchmarkBatcherHeap measures the heap a batcher holds for one slot of
// n agents of one model, between two flushes: heap-MB, and B/agent. Its
// store is an in-memory one (package memstore), which nothing touches
// while the heap is measured; the final flush, which is not measured,
// lands there.
func BenchmarkBatcherHeap(b *testing.B) {
	for _, n := range []int{100000, million} {
		b.Run(fmt.Sprintf("agents=%d", n), func(b *testing.B) {
			fieldKeys := make([]string, n)
			fieldBits := make([]uint64, n)
			for i := range fieldKeys {
				fieldKeys[i], fieldBits[i] = fieldOf(b, int64(i+1))
			}
			var grown float64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				pb := liveness.NewPingBatcher(memstore.New(), frozenOpts()...)
				before := heapInUse()
				b.StartTimer()
				for j := range fieldKeys {
					if err := pb.Ping(fleetModel, benchSlot, fieldKeys[j], fieldBits[j]); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				grown += float64(heapInUse()) - float64(before)
				runtime.KeepAlive(pb)
				if err := pb.Stop(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.StopTimer()
			b.ReportMetric(grown/float64(b.N)/1e6, "heap-MB")
			b.ReportMetric(grown/float64(b.N)/float64(n), "B/agent")
		})
	}
}
