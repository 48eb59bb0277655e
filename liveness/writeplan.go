package liveness

import (
	"slices"
	"strings"
	"time"

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
// slot's ping window (its first quarter, in which pingers ping) is over,
// which is as early as they can all be in: a write late by the write slack
// still lands in time, as for any other ping. A ping of a sequence not
// written in the previous slot is news (a pinger that just started, or one
// whose last write failed) and goes out with the next flush. A bit already
// written into a slot document is never written again.
//
// It belongs to the batcher's loop.
type writePlan struct {
	period time.Duration
	docs   map[bucketKey]*docWrites
	// latest is the newest slot pinged in any model, as the pingers'
	// clocks (which follow the server's) have named it: the age of every
	// slot document is judged against it, never against this host's clock.
	latest int64
}

// docWrites is what the plan knows of one slot document: bits written,
// bits to write at the next flush (news, and writes to try again), and
// refreshes held until the slot's ping window is over. Each maps a field
// index to its bits.
type docWrites struct {
	written, urgent, held map[uint64]uint64
	// refreshed is set once the refreshes held at the end of the ping
	// window were written: later ones wait for half the slot.
	refreshed bool
}

func newWritePlan(period time.Duration) *writePlan {
	return &writePlan{period: period, docs: make(map[bucketKey]*docWrites)}
}

func (p *writePlan) doc(k bucketKey) *docWrites {
	d := p.docs[k]
	if d == nil {
		d = &docWrites{written: map[uint64]uint64{}, urgent: map[uint64]uint64{}, held: map[uint64]uint64{}}
		p.docs[k] = d
	}
	return d
}

// add sorts the pings of b into news and refreshes.
func (p *writePlan) add(b *bucket) {
	p.latest = max(p.latest, b.slot)
	d := p.doc(b.bucketKey)
	before := p.docs[bucketKey{b.modelUUID, b.slot - slot.Seconds(p.period)}]
	for field, bits := range b.fields.all() {
		fresh := bits &^ d.written[field]
		if fresh == 0 {
			continue
		}
		var refresh uint64
		if before != nil {
			refresh = fresh & before.written[field]
		}
		if news := fresh &^ refresh; news != 0 {
			d.urgent[field] |= news
		}
		if refresh != 0 {
			d.held[field] |= refresh
		}
	}
}

// plannedWrite is one slot document's bits taken for a write.
type plannedWrite struct {
	key  bucketKey
	bits map[uint64]uint64
}

// due takes the bits to write now: every document's urgent bits, and its
// held refreshes once the server's clock (serverNow, when known) is past
// the end of the slot's ping window, or past half the slot for those that
// came after the first refresh write; all takes everything.
func (p *writePlan) due(serverNow time.Time, known, all bool) []plannedWrite {
	var out []plannedWrite
	for k, d := range p.docs {
		bits := d.urgent
		wait := slot.PingWindow(p.period)
		if d.refreshed {
			wait = p.period / 2
		}
		takeHeld := len(d.held) > 0 && (all || !known || !serverNow.Before(time.Unix(k.slot, 0).Add(wait)))
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

// done records that w was written.
func (p *writePlan) done(w plannedWrite) {
	d := p.doc(w.key)
	for field, bits := range w.bits {
		d.written[field] |= bits
	}
}

// failed puts back w, whose write failed, to be tried again at the next
// flush, unless no watcher can read its slot any more. It reports whether
// it kept it.
func (p *writePlan) failed(w plannedWrite) bool {
	if p.tooOld(w.key) {
		return false
	}
	d := p.doc(w.key)
	for field, bits := range w.bits {
		d.urgent[field] |= bits
	}
	return true
}

// tooOld reports whether no watcher reads slot document k any more: a slot
// is read for two periods, and one more is allowed for the difference
// between the clocks of pingers and watchers. Slots of every model follow
// the one server clock, so the newest slot of any model tells, which lets
// the plan forget models that no longer ping.
func (p *writePlan) tooOld(k bucketKey) bool {
	return k.slot+3*slot.Seconds(p.period) <= p.latest
}

// forget drops what the plan knows of documents too old to matter, and of
// models that no longer ping, and reports how many documents it dropped
// with bits still to write.
func (p *writePlan) forget() (dropped int) {
	for k, d := range p.docs {
		if !p.tooOld(k) {
			continue
		}
		if len(d.urgent) > 0 || len(d.held) > 0 {
			dropped++
		}
		delete(p.docs, k)
	}
	return dropped
}
