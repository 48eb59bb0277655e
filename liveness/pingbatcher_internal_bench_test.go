package liveness

import (
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/presence-go/presence/internal/layout"
)

// pingSketch is PingBatcher.Ping's in-memory path, copied so that variants
// can be measured against it: countAtomic counts pings with an atomic add
// after the lock, as Ping does; otherwise the count is kept under the lock.
type pingSketch struct {
	closed      atomic.Bool
	countAtomic bool

	mu      sync.Mutex
	pending map[bucketKey]*bucket
	last    *bucket
	pings   int64 // guarded by mu when !countAtomic

	atomicPings atomic.Int64
}

func (ps *pingSketch) ping(modelUUID string, slotNum int64, fieldKey string, fieldBit uint64) bool {
	field, fault := layout.ParseField(fieldKey, layout.AsWritten)
	if ps.closed.Load() || !layout.ValidFieldBit(fieldBit) || fault != layout.FieldOK || modelUUID == "" {
		return false
	}
	ps.mu.Lock()
	b := ps.last
	if b == nil || b.slot != slotNum || b.modelUUID != modelUUID {
		k := bucketKey{modelUUID, slotNum}
		b = ps.pending[k]
		if b == nil {
			b = &bucket{bucketKey: k}
			ps.pending[k] = b
		}
		ps.last = b
	}
	b.fields.or(uint64(field), fieldBit)
	if !ps.countAtomic {
		ps.pings++
	}
	ps.mu.Unlock()
	if ps.countAtomic {
		ps.atomicPings.Add(1)
	}
	return true
}

// BenchmarkPingSketchParallel runs eight goroutines through pingSketch,
// counting pings with an atomic add (as PingBatcher.Ping does) and under
// the lock, to see what the shared counter costs.
func BenchmarkPingSketchParallel(b *testing.B) {
	for _, variant := range []struct {
		name        string
		countAtomic bool
	}{{"count=atomic", true}, {"count=locked", false}} {
		b.Run(variant.name, func(b *testing.B) {
			ps := &pingSketch{countAtomic: variant.countAtomic, pending: make(map[bucketKey]*bucket)}
			pingInParallel(b, ps.ping)
		})
	}
}

// pingInParallel runs eight goroutines through ping, each pinging for a
// sequence of its own.
func pingInParallel(b *testing.B, ping func(modelUUID string, slotNum int64, fieldKey string, fieldBit uint64) bool) {
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((8 + procs - 1) / procs)
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(p *testing.PB) {
		fieldKey, fieldBit, _ := layout.FieldOf(next.Add(1))
		for p.Next() {
			if !ping("model", 1700000010, fieldKey, fieldBit) {
				b.Error("ping refused")
				return
			}
		}
	})
}

// shardedPingSketch is pingSketch split into shards, each with its own
// lock and pending map, chosen by the ping's bit position: agents of one
// slot spread evenly over the shards, so eight pinging goroutines rarely
// wait for each other. A flush would take every shard's lock in turn and
// merge their buckets.
type shardedPingSketch struct {
	shards [sketchShards]struct {
		pingSketch
		_ [64]byte // keeps neighbouring shards' locks off one cache line
	}
}

// sketchShards is how many shards the sketch has.
const sketchShards = 8

func (ss *shardedPingSketch) ping(modelUUID string, slotNum int64, fieldKey string, fieldBit uint64) bool {
	shard := &ss.shards[bits.TrailingZeros64(fieldBit)%sketchShards].pingSketch
	return shard.ping(modelUUID, slotNum, fieldKey, fieldBit)
}

// BenchmarkPingShardedSketchParallel is BenchmarkPingSketchParallel with
// the sharded sketch.
func BenchmarkPingShardedSketchParallel(b *testing.B) {
	ss := &shardedPingSketch{}
	for i := range ss.shards {
		ss.shards[i].pending = make(map[bucketKey]*bucket)
	}
	pingInParallel(b, ss.ping)
}
