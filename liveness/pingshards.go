package liveness

import (
	"math/bits"
	"sync"
	"time"

	"github.com/presence-go/presence/internal/layout"
	"github.com/presence-go/presence/internal/mutate"
)

// pingShards is how many independently locked parts the pending pings are
// split into. Eight goroutines pinging in parallel went from 190 ns to 41 ns
// a ping when split eight ways (see BENCHMARKS.md).
const pingShards = 8

// pingShard is one part of the pending pings.
type pingShard struct {
	// mu guards the fields below, shared by Ping and the flush loop.
	mu        sync.Mutex
	pending   map[bucketKey]*bucket
	last      *bucket  // the bucket of the previous ping: the usual target of the next
	pingCount int64    // pings taken, for Report; counted under mu, which Ping holds anyway
	_         [64]byte // keeps neighbouring shards' locks off one cache line
}

// bucketKey names one slot document.
type bucketKey struct {
	modelUUID string
	slot      int64
}

// bucket is the pings of one slot document not yet written.
type bucket struct {
	bucketKey
	fields fieldSet // field index → ORed fieldBits
}

// Ping should be called by a Pinger when it is ready to update its time
// slot. It records the bit in memory and returns; the next flush writes it.
// A nil error means the ping will be written by a flush, the final one
// included: it fails once the batcher is stopping (ErrStopped), or when the
// arguments could not have come from a Pinger (errors.NotValid).
func (pb *PingBatcher) Ping(modelUUID string, slotNum int64, fieldKey string, fieldBit uint64) error {
	if !layout.ValidFieldBit(fieldBit) {
		return notValidf("ping bit %#x is not one of the 63 bits of a field", fieldBit)
	}
	// Pending pings are kept by field index, cheaper to hash than the
	// name, and written under the index's own name.
	field, fault := layout.ParseField(fieldKey, layout.AsWritten)
	switch fault {
	case layout.FieldOK:
	case layout.FieldBeyond:
		return notValidf("ping field %q is beyond the last field of a sequence", fieldKey)
	default:
		return notValidf("ping field %q is not a hexadecimal field name", fieldKey)
	}
	shard := &pb.shards[bits.TrailingZeros64(fieldBit)%pingShards]
	if mutate.Enabled && mutate.Active(mutate.StopRacesPing) {
		// The defect: the closed mark read before the shard's lock is
		// taken, with the window held open for a moment.
		if pb.closed.Load() {
			return pb.stoppedErr()
		}
		time.Sleep(time.Millisecond)
		shard.mu.Lock()
		shard.bucketLocked(bucketKey{modelUUID, slotNum}).fields.or(uint64(field), fieldBit)
		shard.mu.Unlock()
		return nil
	}
	shard.mu.Lock()
	// Checked under the shard's lock: the final flush marks the batcher
	// closed before it takes each shard under its lock, so a ping either
	// lands before the take or sees the mark.
	if pb.closed.Load() {
		shard.mu.Unlock()
		return pb.stoppedErr()
	}
	b := shard.last
	if b == nil || b.slot != slotNum || b.modelUUID != modelUUID {
		// A new bucket: check the model id once here rather than on every
		// ping; an id with ':' would put the document under another
		// model's prefix. Only that is checked, whatever the batcher's
		// face: the pingers of either face may share it, and each checked
		// its model by its own face's rule.
		if err := checkModelID(modelUUID); err != nil {
			shard.mu.Unlock()
			return err
		}
		b = shard.bucketLocked(bucketKey{modelUUID, slotNum})
	}
	b.fields.or(uint64(field), fieldBit)
	shard.pingCount++
	shard.mu.Unlock()
	return nil
}

func (s *pingShard) bucketLocked(k bucketKey) *bucket {
	b := s.pending[k]
	if b == nil {
		b = &bucket{bucketKey: k}
		s.pending[k] = b
	}
	s.last = b
	return b
}

// take empties every shard and returns their buckets merged.
func (pb *PingBatcher) take() map[bucketKey]*bucket {
	var batch map[bucketKey]*bucket
	for i := range pb.shards {
		shard := &pb.shards[i]
		shard.mu.Lock()
		taken := shard.pending
		if len(taken) == 0 {
			// Nothing to take, and the map stays the shard's: it must
			// not become the batch that others are merged into.
			shard.mu.Unlock()
			continue
		}
		shard.pending = make(map[bucketKey]*bucket, len(taken))
		shard.last = nil
		shard.mu.Unlock()
		if batch == nil {
			batch = taken
			continue
		}
		mergeBuckets(batch, taken)
	}
	return batch
}

// mergeBuckets ORs the buckets of from into into.
func mergeBuckets(into, from map[bucketKey]*bucket) {
	for k, b := range from {
		dst := into[k]
		if dst == nil {
			into[k] = b
			continue
		}
		for field, bits := range b.fields.all() {
			dst.fields.or(field, bits)
		}
	}
}

// pendingCounts returns the pings taken so far and the slot documents with
// pings not yet taken by a flush.
func (pb *PingBatcher) pendingCounts() (pings int64, docs int) {
	waiting := make(map[bucketKey]bool)
	for i := range pb.shards {
		shard := &pb.shards[i]
		shard.mu.Lock()
		pings += shard.pingCount
		for k := range shard.pending {
			waiting[k] = true
		}
		shard.mu.Unlock()
	}
	return pings, len(waiting)
}
