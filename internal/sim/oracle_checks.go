package sim

import (
	"slices"
	"time"

	"github.com/presence-go/presence/internal/slot"
	"github.com/presence-go/presence/liveness"
)

// The oracle's checks as the run goes: writes, deaths, storage.

// checkWrites judges the accepted pings whose time has come: each must
// land by the end of its slot's ping window (or its own arrival, if
// later) and a flush, unless a fault or a clock step touched its
// controller meanwhile. Pings of final, a batcher that stopped cleanly,
// are judged at once.
func (o *oracle) checkWrites(final *liveness.PingBatcher) {
	now := time.Now()
	serverNow := o.serverNow()
	periodSeconds := slot.Seconds(o.b.period)
	o.mu.Lock()
	defer o.mu.Unlock()
	kept := o.pending[:0]
	for _, a := range o.pending {
		if a.checked {
			continue
		}
		landedAt, landed := o.landed[a.ref]
		windowEnd := time.Unix(a.ref.doc.slot, 0).Add(o.b.window)
		handOver := a.serverAt
		if handOver.Before(windowEnd) {
			handOver = windowEnd
		}
		// The deadline in true time: the hand-over, on the server's
		// clock, less how far the server's clock was ahead when the ping
		// came, plus the longest flush wait and a little.
		deadline := a.at.Add(handOver.Sub(a.serverAt)).Add(o.b.flush*6/5 + o.b.lag/4)
		stillRead := a.ref.doc.slot+3*periodSeconds > slot.Of(serverNow.Unix(), periodSeconds)
		switch {
		case landed && !landedAt.After(deadline):
			continue // on time
		case !landed && now.Before(deadline) && final != a.batcher:
			kept = append(kept, a) // not due yet
			continue
		}
		to := now
		if landed {
			to = landedAt
		}
		if final == a.batcher && !landed {
			// The batcher stopped cleanly: its final flush wrote every
			// ping it held but those of slots no longer read.
			if stillRead && !o.steppedLocked(a.at, now) {
				o.violateLocked("lost ping", "controller %d's ping of %v (bit %#x of field %x), accepted at %v, not written by a final flush that succeeded",
					a.ctl, a.ref.doc, a.ref.bit, a.ref.field, a.at.Sub(o.start))
			}
			continue
		}
		if o.faultedLocked(a.at, to, a.ctl) || o.excusedLocked(a.at, to, a.ctl) {
			if !landed && stillRead && !o.excusedLocked(a.at, to, a.ctl) {
				kept = append(kept, a) // a fault delays it; it must land still
			}
			continue
		}
		switch {
		case landed:
			o.violateLocked("late write", "controller %d's ping of %v (bit %#x of field %x), accepted at %v, landed at %v, after %v",
				a.ctl, a.ref.doc, a.ref.bit, a.ref.field, a.at.Sub(o.start), landedAt.Sub(o.start), deadline.Sub(o.start))
		case stillRead:
			o.violateLocked("lost ping", "controller %d's ping of %v (bit %#x of field %x), accepted at %v, never landed",
				a.ctl, a.ref.doc, a.ref.bit, a.ref.field, a.at.Sub(o.start))
		}
	}
	o.pending = kept
	// Forget what landed in slots no longer read.
	horizon := slot.Of(serverNow.Unix(), periodSeconds) - 10*periodSeconds
	for ref := range o.landed {
		if ref.doc.slot < horizon {
			delete(o.landed, ref)
		}
	}
}

// checkDeaths judges, for every run that ended long enough ago, that every
// watcher of its model that ran throughout said its key dead by the
// documented bound. It returns the watchers and keys it found wanting,
// for the trace to say what they see.
func (o *oracle) checkDeaths(checked map[*run]bool) (wanting []watcherKey) {
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, k := range o.keys {
		r := k.current()
		if r == nil || r.ended == endNone || checked[r] {
			continue
		}
		bound := o.b.deathBound(r.ended)
		bound += o.afterStepLocked(r.end.Add(bound))
		// A kill is seen a period after its dead bit is written, which
		// may be a while after the call, when the pinger was busy.
		from := r.end
		if !r.returned.IsZero() && (r.ended == endKill || r.ended == endGraceful) {
			from = r.returned
		}
		deadline := from.Add(bound)
		if now.Before(deadline.Add(o.b.lag)) {
			continue
		}
		checked[r] = true
		for id, w := range o.watchers {
			if id.model != k.model || !w.running || w.since.After(r.end) {
				continue
			}
			if !w.said[k.key] || w.deadAt[k.key].After(r.end) {
				continue // said dead since, or never said alive
			}
			if o.excusedLocked(r.end.Add(-o.b.period), now, id.ctl, r.ctl) || o.faultedLocked(r.end, now, id.ctl) {
				continue // its reads failed: it may not have read since
			}
			o.violateLocked("death not seen", "watcher %v still says %s alive %v after its %s at %v (bound %v)",
				id, k.key, now.Sub(r.end), r.ended, r.end.Sub(o.start), bound)
			wanting = append(wanting, watcherKey{id, k.key})
		}
	}
	return wanting
}

// watcherKey names a key as one watcher sees it.
type watcherKey struct {
	id  watcherID
	key string
}

// checkStorage judges the slot documents per model: between two prunes,
// one new document per slot, and a few more for the live slots and a
// frame that moved.
func (o *oracle) checkStorage(slotsPerModel map[string][]int64) {
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	current := slot.Of(o.serverNow().Unix(), int64(o.b.period/time.Second))
	for model, slots := range slotsPerModel {
		last := o.lastPrune[model]
		allowed := int(now.Sub(last)/o.b.period) + 10
		if n := len(slots); n > allowed+len(o.moves)*4 {
			ages := make([]int64, n)
			for i, s := range slots {
				ages[i] = (current - s) / int64(o.b.period/time.Second)
			}
			slices.Sort(ages)
			o.violateLocked("storage", "model %s holds %d slot documents, %v after its last prune, of slots %v periods old",
				model, n, now.Sub(last), ages)
		}
	}
}
