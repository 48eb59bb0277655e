package liveness

import (
	"slices"
	"strings"
	"time"

	"github.com/presence-go/presence/internal/mutate"
	"github.com/presence-go/presence/internal/slot"
)

// writePlan decides what a batcher writes and when, so that a steady fleet
// costs about one write per slot document per slot rather than one per
// flush.
//
// A key stays alive while its newest sequence has a bit in the current or
// the previous slot. So a ping of a sequence whose bit is already written
// in the previous slot is a refresh: it only has to land before the
// current slot ends. Refreshes are held and written together once the
// slot's ping window (its first quarter, in which pingers ping) is over;
// a ping from the end of the window would only be written then anyway, so
// holding takes nothing from the write slack. A ping of a sequence not
// written in the previous slot is news (a pinger that just started, or one
// whose last write failed) and goes out with the next flush, as does a
// refresh that comes after the window. A bit already written into a slot
// document is never written again.
//
// # The promise
//
// Every bit a flush takes into the plan for slot s at server time t is
// handed to a write by the first flush at or after handOverBy(s, t), and
// again by every flush after a write of it failed, until a write of it
// succeeds or no watcher reads slot s any more (isRead). So a ping handed
// to the batcher by a pinger in the ping window is written by the window's
// end plus the longest flush wait: its write may take the rest of the
// slot, the write slack, before a watcher misses it. A ping for a slot far
// from now (a caller's or a clock's mistake) is written at once and judged
// by the server's clock, never by the slots other pings named. The plan's
// tests check this over random schedules of pings, flushes, failed writes
// and clock steps (writeplan_invariant_test.go).
//
// The age of a slot document is always judged on the server's clock (the
// batcher's frame, shared with its pingers and watchers), never on the
// slots pinged.
//
// It belongs to the batcher's loop.
type writePlan struct {
	period time.Duration
	docs   map[bucketKey]*docWrites
	// latest is the newest slot pinged, kept only for the mutation test's
	// FarPingPoisons.
	latest int64
}

// docWrites is what the plan knows of one slot document: bits written,
// bits to write at the next flush (news, and writes to try again), and
// refreshes held until the slot's ping window is over. Each maps a field
// index to its bits.
type docWrites struct {
	written, urgent, held map[uint64]uint64
	// refreshed is set once held refreshes were written, for the
	// mutation test's LateRefreshWaits.
	refreshed bool
}

func newWritePlan(period time.Duration) *writePlan {
	return &writePlan{period: period, docs: make(map[bucketKey]*docWrites)}
}

// handOverBy returns the server time by which the plan hands a bit of slot
// slotNum, taken into the plan at server time taken, to a write: the end
// of the slot's ping window, or at once for a bit taken after it.
func handOverBy(slotNum int64, taken time.Time, period time.Duration) time.Time {
	windowEnd := time.Unix(slotNum, 0).Add(slot.PingWindow(period))
	if taken.After(windowEnd) {
		return taken
	}
	return windowEnd
}

// isRead reports whether a watcher may still read slot slotNum when the
// server's clock is in slot current: a slot is read for two periods, and
// one more is allowed for watchers whose frame differs from the
// batcher's.
func isRead(slotNum, current, periodSeconds int64) bool {
	return slotNum+3*periodSeconds > current
}

// nearNow reports whether slotNum is one a pinger in the batcher's frame
// may name when the server's clock is in slot current: the current slot
// or either neighbour.
func nearNow(slotNum, current, periodSeconds int64) bool {
	return current-periodSeconds <= slotNum && slotNum <= current+periodSeconds
}

func (p *writePlan) doc(k bucketKey) *docWrites {
	d := p.docs[k]
	if d == nil {
		d = &docWrites{written: map[uint64]uint64{}, urgent: map[uint64]uint64{}, held: map[uint64]uint64{}}
		p.docs[k] = d
	}
	return d
}

// add sorts the pings of b into news and refreshes, the server's clock
// being in slot current. It reports false when b's slot is far from
// current: its pings are then all news, written at once, so that a mistake
// costs a write and never delays a ping.
func (p *writePlan) add(b *bucket, current int64) (near bool) {
	periodSeconds := slot.Seconds(p.period)
	near = nearNow(b.slot, current, periodSeconds)
	if mutate.Enabled && mutate.Active(mutate.FarPingPoisons) {
		p.latest, near = max(p.latest, b.slot), true
	}
	d := p.doc(b.bucketKey)
	var before *docWrites
	if near {
		before = p.docs[bucketKey{b.modelUUID, b.slot - periodSeconds}]
	}
	for field, bits := range b.fields.all() {
		fresh := bits &^ d.written[field]
		if fresh == 0 {
			continue
		}
		var refresh uint64
		if before != nil {
			// Bits already to go at the next flush (a write to try again)
			// are not held as well.
			refresh = fresh & before.written[field] &^ d.urgent[field]
		}
		if news := fresh &^ refresh; news != 0 {
			d.urgent[field] |= news
		}
		if refresh != 0 {
			d.held[field] |= refresh
		}
	}
	return near
}

// plannedWrite is one slot document's bits taken for a write.
type plannedWrite struct {
	key  bucketKey
	bits map[uint64]uint64
}

// dueWhen says which of the bits a flush takes.
type dueWhen int

const (
	// dueOnTime takes the news, and the refreshes whose hand-over time has
	// come on the server's clock.
	dueOnTime dueWhen = iota
	// dueAll takes everything: a Sync, the final flush, a flush after the
	// frame moved, or one whose frame is not known.
	dueAll
)

// due takes the bits to write at server time now: every document's urgent
// bits, and its held refreshes once now is past the end of the slot's ping
// window (or every held bit, with dueAll).
func (p *writePlan) due(now time.Time, when dueWhen) []plannedWrite {
	var out []plannedWrite
	for k, d := range p.docs {
		bits := d.urgent
		heldUntil := handOverBy(k.slot, time.Time{}, p.period)
		if mutate.Enabled && mutate.Active(mutate.LateRefreshWaits) && d.refreshed {
			heldUntil = time.Unix(k.slot, 0).Add(p.period / 2)
		}
		takeHeld := len(d.held) > 0 && (when == dueAll || !now.Before(heldUntil))
		if len(bits) == 0 && !takeHeld {
			continue
		}
		if takeHeld {
			for field, b := range d.held {
				bits[field] |= b
			}
			d.held = map[uint64]uint64{}
			d.refreshed = true
		}
		d.urgent = map[uint64]uint64{}
		out = append(out, plannedWrite{k, bits})
	}
	// Oldest slots first, then by model: a stable order for the commands.
	slices.SortFunc(out, func(a, b plannedWrite) int {
		if a.key.slot != b.key.slot {
			return int(a.key.slot - b.key.slot)
		}
		return strings.Compare(a.key.modelUUID, b.key.modelUUID)
	})
	return out
}

// done records that w was written: its bits are no longer held either.
func (p *writePlan) done(w plannedWrite) {
	d := p.doc(w.key)
	for field, bits := range w.bits {
		d.written[field] |= bits
		if held := d.held[field] &^ bits; held != 0 {
			d.held[field] = held
		} else {
			delete(d.held, field)
		}
	}
}

// failed puts back w, whose write failed, to be tried again at the next
// flush, unless no watcher reads its slot any more, the server's clock
// being in slot current. It reports whether it kept it.
func (p *writePlan) failed(w plannedWrite, current int64) bool {
	if !isRead(w.key.slot, p.judgeBy(current), slot.Seconds(p.period)) {
		return false
	}
	d := p.doc(w.key)
	for field, bits := range w.bits {
		d.urgent[field] |= bits
	}
	return true
}

// judgeBy returns the slot by which the plan judges documents' age: the
// server's current one.
func (p *writePlan) judgeBy(current int64) int64 {
	if mutate.Enabled && mutate.Active(mutate.FarPingPoisons) {
		return p.latest
	}
	return current
}

// forget drops what the plan knows of documents no watcher reads any more,
// the server's clock being in slot current, and reports how many it
// dropped with bits still to write; it is how the plan forgets models that
// no longer ping. Documents far ahead of now (left by a mistaken ping, or
// by a clock that moved back) are forgotten once they hold nothing to
// write.
func (p *writePlan) forget(current int64) (dropped int) {
	periodSeconds := slot.Seconds(p.period)
	current = p.judgeBy(current)
	for k, d := range p.docs {
		pending := len(d.urgent) > 0 || len(d.held) > 0
		switch {
		case !isRead(k.slot, current, periodSeconds):
			if pending {
				dropped++
			}
		case k.slot > current+periodSeconds && !pending:
		default:
			continue
		}
		delete(p.docs, k)
	}
	return dropped
}
