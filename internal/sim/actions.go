package sim

import (
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/presence-go/presence/internal/memstore"
	"github.com/presence-go/presence/internal/slot"
)

// act does one thing, drawn from the run's seed: mostly what agents and
// operators do, and, with faults on, now and then a fault.
func (w *world) act() {
	r := w.rng.IntN(1000)
	switch {
	case r < 450:
		w.agentAction()
	case r < 700:
		a := w.agents[w.rng.IntN(len(w.agents))]
		w.ctls[w.rng.IntN(len(w.ctls))].probe(a.model, a.key)
	case !w.cfg.Faults:
	case r < 780:
		w.connectionFault()
	case r < 800:
		// A stall holds a ping back as an overloaded host would, often
		// past its ping window; it eats the write slack as a slow write
		// does, so it stays within it: the library promises nothing of a
		// ping handed over later than that.
		c := w.ctls[w.rng.IntN(len(w.ctls))]
		least := w.b.window / 2
		d := least + time.Duration(w.rng.Float64()*float64(w.b.slack*9/10-least))
		c.mu.Lock()
		rec := c.rec
		c.mu.Unlock()
		rec.stall.Store(int64(d))
		w.o.stalled(c.id, d)
	case r < 806:
		w.serverStep()
	case r < 809:
		w.hostStep()
	case r < 815:
		w.farPing()
	case r < 825:
		w.aliasField()
	case r < 830:
		c := w.ctls[w.rng.IntN(len(w.ctls))]
		c.mu.Lock()
		rec := c.rec
		c.mu.Unlock()
		rec.raceStop.Store(true)
	case r < 833:
		c := w.ctls[w.rng.IntN(len(w.ctls))]
		w.goOwned(func() { w.restartController(c) })
	}
}

// agentAction starts a stopped agent, or stops, restarts or kills a
// running one.
func (w *world) agentAction() {
	a := w.agents[w.rng.IntN(len(w.agents))]
	if !a.running() {
		a.start(w)
		return
	}
	switch r := w.rng.IntN(10); {
	case r < 4:
		a.stop(w, endQuiet)
		a.start(w) // a restart
	case r < 7:
		a.stop(w, endQuiet)
	default:
		a.stop(w, endKill)
	}
}

// connectionFault gives a controller's connection an outage, a hang,
// latency or a drop, for a time around the write slack: below it, the
// library promises that nobody reads dead; above, it does not.
func (w *world) connectionFault() {
	c := w.ctls[w.rng.IntN(len(w.ctls))]
	d := time.Duration((0.05 + 3.95*w.rng.Float64()) * float64(max(w.b.slack, w.period)))
	// A write delayed by d lands late by d and a flush: past the slack
	// less three flushes, the library promises nothing.
	excuses := d > w.b.slack-3*c.flush
	now := time.Now()
	switch w.rng.IntN(4) {
	case 0:
		c.setFault(memstore.Fault{Err: errOutage, Landed: w.rng.IntN(2) == 0}, d)
		c.setOutage(now, d)
		if late := w.period + 5*time.Second; d > late+time.Second {
			// Once reads have failed for longer than a period, the
			// watchers must answer with errors: ask each then.
			key := w.agents[w.rng.IntN(len(w.agents))].key
			w.after(late, func() {
				for m := range w.models {
					c.probe(m, key)
				}
			})
		}
		w.o.addFault(fault{ctl: c.id, kind: "outage", from: now, to: now.Add(d), excuses: excuses})
		w.trace("c%d: outage for %v", c.id, d)
	case 1:
		gate := memstore.NewGate()
		c.setFault(memstore.Fault{Hold: gate}, d)
		w.after(d, gate.Open)
		w.o.addFault(fault{ctl: c.id, kind: "hang", from: now, to: now.Add(d), excuses: excuses})
		w.trace("c%d: operations hang for %v", c.id, d)
		w.checkHangReported(c, d)
	case 2:
		c.setFault(memstore.Fault{Delay: d / 2, ReplyDelay: d / 2}, d)
		w.o.addFault(fault{ctl: c.id, kind: "latency", from: now, to: now.Add(2 * d), excuses: excuses})
		w.trace("c%d: each operation takes %v, for %v", c.id, d, d)
	default:
		// What is in flight fails, and what comes in the next moments
		// until the driver connects again.
		d = time.Duration(w.rng.Float64() * float64(time.Second))
		c.store.DropConnection(0)
		c.setFault(memstore.Fault{Err: memstore.ErrConnectionDropped}, d)
		w.o.addFault(fault{ctl: c.id, kind: "drop", from: now, to: now.Add(d + 3*c.flush)})
		w.trace("c%d: connection dropped, for %v", c.id, d)
	}
}

// checkHangReported checks that a hang longer than the batcher's outage
// tolerance and the write slack is reported: the batcher must have stopped
// with an error once the tolerance, a write's bound (the slack) and a
// flush have passed since the hang began.
func (w *world) checkHangReported(c *controller, d time.Duration) {
	// The batcher's tolerance and each write's bound are its own write
	// slack.
	limit := 2*c.slack() + 3*c.flush
	if d <= limit+time.Second {
		return
	}
	c.mu.Lock()
	pb := c.batcher
	c.mu.Unlock()
	w.after(limit, func() {
		if w.stopping.Load() {
			return
		}
		c.mu.Lock()
		same := c.batcher == pb
		c.mu.Unlock()
		if !same {
			return // restarted meanwhile
		}
		// A batcher with nothing to write meets no hang; one whose
		// oldest unacknowledged write began before the hang and the
		// limit must have stopped.
		r := pb.Report()
		since, pending := r["unacknowledged-since"].(time.Time)
		w.o.mu.Lock()
		stepped := w.o.hostSteppedLocked(time.Now().Add(-limit-d), time.Now(), c.id)
		w.o.mu.Unlock()
		if state, _ := r["state"].(string); state == "running" && pending && c.clock.Now().Sub(since) >= limit && !stepped {
			w.o.mu.Lock()
			w.o.violateLocked("hang unreported", "c%d's batcher still runs %v into a hang of %v, a write unacknowledged since %v ago (flush failures: %v)",
				c.id, limit, d, c.clock.Now().Sub(since), r["flush-failures"])
			w.o.mu.Unlock()
		}
	})
}

// serverStep steps the server's clock, as an NTP step on its host or a
// failover to a member whose clock differs would.
func (w *world) serverStep() {
	by := time.Duration((0.5 + 2.5*w.rng.Float64()) * float64(w.period))
	if w.rng.IntN(2) == 0 {
		by = -by
	}
	w.clockMu.Lock()
	w.serverOffset += by
	w.clockMu.Unlock()
	w.o.serverStep(by)
	w.trace("the server's clock steps by %v", by)
}

// hostStep steps a controller's clock. The simulated clocks have no
// monotonic reading that a step leaves alone, so the controller works in
// a wrong frame until it measures the server's clock again: what its
// watchers say, and what others say of its keys, is excused meanwhile.
func (w *world) hostStep() {
	c := w.ctls[w.rng.IntN(len(w.ctls))]
	by := time.Duration((0.5 + 2.5*w.rng.Float64()) * float64(w.period))
	if w.rng.IntN(2) == 0 {
		by = -by
	}
	c.clock.step(by)
	now := time.Now()
	// Until it measures again, the controller pings and reads in a frame
	// off by the step; then, through its grace, it writes that frame too,
	// whose slots, after a step forward, come round again later.
	size := by
	if size < 0 {
		size = -size
	}
	w.o.addFault(fault{ctl: c.id, kind: hostStep, from: now, to: now.Add(2*w.b.remeasure + w.b.grace + size + 4*w.period), excuses: true})
	w.trace("c%d's clock steps by %v", c.id, by)
}

// farPing hands a controller's batcher a ping for a slot periods away from
// now, as a caller with a wrong clock would: a sequence no being names.
func (w *world) farPing() {
	c := w.ctls[w.rng.IntN(len(w.ctls))]
	c.mu.Lock()
	rec := c.rec
	c.mu.Unlock()
	periodSeconds := slot.Seconds(w.period)
	now := slot.Of(w.serverNow().Unix(), periodSeconds)
	k := int64(2 + w.rng.IntN(8))
	if w.rng.IntN(2) == 0 {
		k = -k
	}
	model := w.models[w.rng.IntN(len(w.models))]
	if err := rec.Ping(model, now+k*periodSeconds, "ffff", 1); err == nil {
		w.trace("c%d: a ping for slot %d, %d periods from now", c.id, now+k*periodSeconds, k)
	}
}

// aliasField rewrites, as another program might, the alive part of a
// model's current slot document with a second spelling of one of its
// fields ahead of it, holding no bits; half a period later, when watchers
// have read it, it puts other bits in that spelling: the field's with
// some flipped. A reader that keeps the last value of a repeated name, as
// every BSON reader does, reads the same bits throughout.
func (w *world) aliasField() {
	periodSeconds := slot.Seconds(w.period)
	model := w.models[w.rng.IntN(len(w.models))]
	id := model + ":" + strconv.FormatInt(slot.Of(w.serverNow().Unix(), periodSeconds), 10)
	pick, flip := w.rng.Uint64(), w.rng.Uint64()>>1
	if field, ok := w.spellAgain(id, pick, 0); ok {
		w.after(w.period/2, func() { w.spellAgain(id, pick, flip) })
		w.trace("another writer spells field %s of %s also as 0%s", field, id, field)
	}
}

// spellAgain puts, ahead of field number pick (modulo their count) of the
// alive part of document id, the field's name with a leading zero,
// holding the field's bits with those of flip flipped, or no bits when
// flip is zero. It reports the field and whether it did.
func (w *world) spellAgain(id string, pick, flip uint64) (string, bool) {
	raw, ok := w.server.Doc(memstore.Pings, id)
	if !ok {
		return "", false
	}
	var doc bson.D
	if bson.Unmarshal(raw, &doc) != nil {
		return "", false
	}
	for i, e := range doc {
		alive, ok := e.Value.(bson.D)
		if e.Key != "alive" || !ok {
			continue
		}
		var canonical []bson.E
		for _, f := range alive {
			if !strings.HasPrefix(f.Key, "0") || f.Key == "0" {
				canonical = append(canonical, f)
			}
		}
		if len(canonical) == 0 {
			return "", false
		}
		f := canonical[pick%uint64(len(canonical))]
		bits, ok := f.Value.(int64)
		if !ok {
			return "", false
		}
		alias := "0" + f.Key
		var aliasBits int64
		if flip != 0 {
			aliasBits = (bits ^ int64(flip)) & (1<<63 - 1)
		}
		rebuilt := bson.D{{Key: alias, Value: aliasBits}}
		for _, g := range alive {
			if g.Key != alias {
				rebuilt = append(rebuilt, g)
			}
		}
		doc[i].Value = rebuilt
		out, err := bson.Marshal(doc)
		if err != nil || w.server.Put(memstore.Pings, out) != nil {
			return "", false
		}
		return f.Key, true
	}
	return "", false
}

// docID returns a document's _id, or "".
func docID(doc []byte) string {
	id, _ := bson.Raw(doc).Lookup("_id").StringValueOK()
	return id
}
