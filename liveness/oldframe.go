package liveness

import (
	"iter"
	"maps"
	"time"

	"slices"
	"strings"

	"github.com/presence-go/presence/internal/slot"
)

// oldFrame is what a batcher writes in the old frame during the grace after
// a move of its server clock (see frameGrace): controllers that have not
// measured the move yet read the slots of the old frame, and must still
// find every live key there.
//
// Two moves may come within one grace: the frames of both are then old
// frames until their graces end. Every ping taken in the grace is
// written, whatever the write plan knows of the new frame, into the old
// frame's slot of the moment and the one after it: pings come a period
// apart, so no slot of the old frame is then without the bit beside one
// that has it. A bit written into an old-frame document is not written
// there again. It belongs to the batcher's loop.
type oldFrame struct {
	period time.Duration
	// pending holds the bits to write, written the bits written, by
	// document.
	pending, written map[bucketKey]map[uint64]uint64
}

func newOldFrame(period time.Duration) *oldFrame {
	return &oldFrame{period: period, pending: map[bucketKey]map[uint64]uint64{}, written: map[bucketKey]map[uint64]uint64{}}
}

// add takes the pings of b, in the old frame's slot oldSlot now.
func (o *oldFrame) add(b *bucket, oldSlot int64) {
	o.addBits(b.modelUUID, b.fields.all(), oldSlot)
}

// addBits takes bits of a model, in the old frame's slot oldSlot now.
func (o *oldFrame) addBits(modelUUID string, fields iter.Seq2[uint64, uint64], oldSlot int64) {
	for _, s := range []int64{oldSlot, oldSlot + slot.Seconds(o.period)} {
		k := bucketKey{modelUUID, s}
		for field, bits := range fields {
			if fresh := bits &^ o.written[k][field]; fresh != 0 {
				if o.pending[k] == nil {
					o.pending[k] = map[uint64]uint64{}
				}
				o.pending[k][field] |= fresh
			}
		}
	}
}

// carry takes every bit the plan wrote into the live slots of the frame
// just left (oldSlot, its slot now, and the one before): at a move, the
// sequences that were alive in the old frame must stay so there until
// their pingers ping again, which may be a period away.
func (o *oldFrame) carry(plan *writePlan, oldSlot int64) {
	periodSeconds := slot.Seconds(o.period)
	for k, d := range plan.docs {
		if (k.slot == oldSlot || k.slot == oldSlot-periodSeconds) && len(d.written) > 0 {
			o.addBits(k.modelUUID, maps.All(d.written), oldSlot)
		}
	}
}

// due takes the writes to make, in a stable order.
func (o *oldFrame) due() []plannedWrite {
	out := make([]plannedWrite, 0, len(o.pending))
	for k, bits := range o.pending {
		out = append(out, plannedWrite{k, bits})
	}
	clear(o.pending)
	slices.SortFunc(out, func(a, b plannedWrite) int {
		if a.key.slot != b.key.slot {
			return int(a.key.slot - b.key.slot)
		}
		return strings.Compare(a.key.modelUUID, b.key.modelUUID)
	})
	return out
}

// done records that w was written; failed puts it back.
func (o *oldFrame) done(w plannedWrite) {
	if o.written[w.key] == nil {
		o.written[w.key] = map[uint64]uint64{}
	}
	for field, bits := range w.bits {
		o.written[w.key][field] |= bits
	}
}

func (o *oldFrame) failed(w plannedWrite) {
	if o.pending[w.key] == nil {
		o.pending[w.key] = map[uint64]uint64{}
	}
	for field, bits := range w.bits {
		o.pending[w.key][field] |= bits
	}
}

// forget drops every document no frame in its grace still reads: those
// of slots more than three periods before the oldest of oldSlots (the
// slots now of the frames in their grace), and every one once no frame is.
func (o *oldFrame) forget(oldSlots []int64, periodSeconds int64) {
	if len(oldSlots) == 0 {
		clear(o.written)
		clear(o.pending)
		return
	}
	oldest := slices.Min(oldSlots) - 3*periodSeconds
	for k := range o.written {
		if k.slot < oldest {
			delete(o.written, k)
		}
	}
	for k := range o.pending {
		if k.slot < oldest {
			delete(o.pending, k)
		}
	}
}
