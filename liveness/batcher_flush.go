package liveness

import (
	"context"
	"slices"
	"time"

	"github.com/presence-go/presence/internal/layout"
	"github.com/presence-go/presence/internal/mutate"
	"github.com/presence-go/presence/internal/slot"
)

// A flush of a PingBatcher: what it takes from the shards into the write
// plan, and how it writes, in the new frame and, in the grace after a
// move, the old one.

// flush takes the pings recorded since the last flush into the plan and
// writes what is due: one upsert per slot document, in bulk requests of at
// most layout.Batch upserts (MongoDB before 3.6 takes no more in one
// command, and a smaller command is less likely to time out on a slow
// server). What fails to be written stays in the plan, to be ORed with
// newer pings and written by the next flush. Slots are judged on the
// server's clock; while it is not known, or its measures have failed for a
// while (an overdue frame), everything is written at once.
func (pb *PingBatcher) flush(when dueWhen) error {
	local := pb.cfg.clock.Now()
	f := pb.clock.current()
	if f.overdue(local) {
		when = dueAll
	}
	current := f.slot(local, pb.cfg.period)
	oldSlots := f.graceSlots(local, pb.cfg.period)
	var far []bucketKey
	for _, b := range pb.take() {
		near := pb.plan.add(b, current)
		if !near {
			far = append(far, b.bucketKey)
		} else {
			for _, oldSlot := range oldSlots {
				pb.old.add(b, oldSlot)
			}
		}
	}
	pb.logFar(far, current, local)
	writes := pb.plan.due(f.server(local), when)
	old := pb.old.due()
	var err error
	if len(writes)+len(old) > 0 {
		pb.stats.flushes.Add(1)
		pb.outage.begin(local)
		pb.stats.unacked.CompareAndSwap(0, local.UnixNano())
	}
	for start := 0; start < len(writes); start += layout.Batch {
		chunk := writes[start:min(start+layout.Batch, len(writes))]
		if err = pb.write(chunk); err != nil {
			pb.stats.failures.Add(1)
			kept, dropped := 0, 0
			judgeBy := current
			if mutate.Enabled && mutate.Active(mutate.RequeueByLocalClock) {
				judgeBy = slot.Of(local.Unix(), slot.Seconds(pb.cfg.period))
			}
			for _, w := range writes[start:] {
				if pb.plan.failed(w, judgeBy) {
					kept++
				} else {
					dropped++
				}
			}
			pb.stats.dropped.Add(int64(dropped))
			err = annotatef(err, "%d documents kept for the next flush, %d too old dropped", kept, dropped)
			break
		}
		for _, w := range chunk {
			pb.plan.done(w)
		}
		pb.stats.writes.Add(int64(len(chunk)))
	}
	err = pb.writeOldFrame(old, err)
	if err == nil {
		pb.outage.ended()
		pb.stats.unacked.Store(0)
	}
	pb.stats.dropped.Add(int64(pb.plan.forget(current)))
	pb.old.forget(oldSlots, slot.Seconds(pb.cfg.period))
	return err
}

// writeOldFrame writes what the grace after a move of the frame asks for
// in the old frame, unless the flush already failed (err), and returns the
// flush's error.
func (pb *PingBatcher) writeOldFrame(old []plannedWrite, err error) error {
	for start := 0; start < len(old); start += layout.Batch {
		chunk := old[start:min(start+layout.Batch, len(old))]
		if err == nil {
			err = pb.write(chunk)
		}
		if err != nil {
			for _, w := range old[start:] {
				pb.old.failed(w)
			}
			return err
		}
		for _, w := range chunk {
			pb.old.done(w)
		}
		pb.stats.writes.Add(int64(len(chunk)))
	}
	return err
}

// logFar says, at most once a period, that pings named slots far from the
// server's clock (in slot current): a pinger's clock or a caller is wrong.
func (pb *PingBatcher) logFar(far []bucketKey, current int64, local time.Time) {
	if len(far) == 0 {
		return
	}
	pb.stats.far.Add(int64(len(far)))
	if !pb.farLog.IsZero() && local.Sub(pb.farLog) < pb.cfg.period {
		return
	}
	pb.farLog = local
	pb.cfg.logger.Warn("presence: pings for slots far from the server's clock; written at once",
		"documents", len(far), "model", far[0].modelUUID, "slot", far[0].slot, "current-slot", current)
}

// write sends one bulk request of upserts, with each document's fields in
// the order of their index.
func (pb *PingBatcher) write(writes []plannedWrite) error {
	slotWrites := make([]SlotWrite, 0, len(writes))
	for _, w := range writes {
		slotWrites = append(slotWrites, SlotWrite{ModelUUID: w.key.modelUUID, Slot: w.key.slot, Alive: sortedFields(w.bits)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), pb.timeout)
	defer cancel()
	return pb.store.WriteSlots(ctx, slotWrites)
}

// sortedFields returns fields in the order of their index, each named as
// layout.FieldKey names its index.
func sortedFields(fields map[uint64]uint64) []FieldBits {
	indexes := make([]uint64, 0, len(fields))
	for field := range fields {
		indexes = append(indexes, field)
	}
	slices.Sort(indexes)
	out := make([]FieldBits, len(indexes))
	for i, field := range indexes {
		out[i] = FieldBits{Field: layout.FieldKey(int64(field)), Bits: fields[field]}
	}
	return out
}
