package liveness

import (
	"testing"
	"time"
)

// planBucket is the pings of one slot document, as a flush takes them.
func planBucket(model string, slotNum int64, fields map[uint64]uint64) *bucket {
	b := &bucket{bucketKey: bucketKey{model, slotNum}}
	for field, bits := range fields {
		b.fields.or(field, bits)
	}
	return b
}

// serverAt is the server time at seconds.
func serverAt(seconds float64) time.Time {
	return time.Unix(0, int64(seconds*float64(time.Second)))
}

// slotAt is the 30 s slot of the server time at seconds.
func slotAt(seconds float64) int64 {
	s := int64(seconds)
	return s - s%30
}

// addAt takes b into p at server time at (seconds), as a flush does.
func addAt(p *writePlan, at float64, b *bucket) bool {
	return p.add(b, slotAt(at))
}

// flushAt runs a flush of p at server time at (seconds) whose writes all
// succeed, and returns the bits written per slot.
func flushAt(p *writePlan, at float64, when dueWhen) map[int64]map[uint64]uint64 {
	got := map[int64]map[uint64]uint64{}
	for _, w := range p.due(serverAt(at), when) {
		got[w.key.slot] = w.bits
		p.done(w)
	}
	p.forget(slotAt(at))
	return got
}

func TestWritePlanNewsGoesAtOnce(t *testing.T) {
	p := newWritePlan(30 * time.Second)
	addAt(p, 61, planBucket("m", 60, map[uint64]uint64{0: 1 << 3}))
	got := flushAt(p, 61, dueOnTime)
	if len(got) != 1 || got[60][0] != 1<<3 {
		t.Fatalf("news of slot 60 at 61 s: took %v", got)
	}
}

func TestWritePlanRefreshWaitsForTheEndOfThePingWindow(t *testing.T) {
	p := newWritePlan(30 * time.Second)
	addAt(p, 31, planBucket("m", 30, map[uint64]uint64{0: 1<<3 | 1<<4}))
	flushAt(p, 31, dueOnTime) // written into slot 30
	// In slot 60, seq 3 pings again (a refresh), seq 5 for the first time.
	addAt(p, 61, planBucket("m", 60, map[uint64]uint64{0: 1<<3 | 1<<5}))
	if got := flushAt(p, 61, dueOnTime); len(got) != 1 || got[60][0] != 1<<5 {
		t.Fatalf("at 61 s: took %v; want only the news, seq 5", got)
	}
	if got := flushAt(p, 67.4, dueOnTime); len(got) != 0 {
		t.Fatalf("at 67.4 s, inside the ping window: took %v", got)
	}
	if got := flushAt(p, 67.5, dueOnTime); len(got) != 1 || got[60][0] != 1<<3 {
		t.Fatalf("at 67.5 s, the window over: took %v; want the refresh of seq 3", got)
	}
	// Seq 3 pings slot 60 again: it is written there, so nothing goes.
	addAt(p, 69, planBucket("m", 60, map[uint64]uint64{0: 1 << 3}))
	if got := flushAt(p, 70, dueAll); len(got) != 0 {
		t.Fatalf("a bit already written went again: %v", got)
	}
}

// TestWritePlanLateRefreshGoesAtOnce is the regression test of refreshes
// that came after the slot's first refresh write: they waited for half
// the slot (75 s here), which left them 13.8 s of the 21.3 s write slack
// the package documents. A refresh taken after the ping window goes with
// the next flush.
func TestWritePlanLateRefreshGoesAtOnce(t *testing.T) {
	p := newWritePlan(30 * time.Second)
	addAt(p, 31, planBucket("m", 30, map[uint64]uint64{0: 1<<3 | 1<<4 | 1<<5}))
	flushAt(p, 31, dueOnTime)
	addAt(p, 61, planBucket("m", 60, map[uint64]uint64{0: 1 << 3}))
	flushAt(p, 68, dueOnTime) // the refresh of seq 3
	addAt(p, 69, planBucket("m", 60, map[uint64]uint64{0: 1 << 4}))
	if got := flushAt(p, 70, dueOnTime); got[60][0] != 1<<4 {
		t.Fatalf("at 70 s: took %v; want the late refresh of seq 4 at once", got)
	}
	addAt(p, 71, planBucket("m", 60, map[uint64]uint64{0: 1 << 5}))
	if got := flushAt(p, 71.5, dueOnTime); got[60][0] != 1<<5 {
		t.Fatalf("at 71.5 s: took %v; want the late refresh of seq 5 at once", got)
	}
}

func TestWritePlanSyncTakesHeldRefreshes(t *testing.T) {
	p := newWritePlan(30 * time.Second)
	addAt(p, 31, planBucket("m", 30, map[uint64]uint64{0: 1 << 3}))
	flushAt(p, 31, dueOnTime)
	addAt(p, 61, planBucket("m", 60, map[uint64]uint64{0: 1 << 3}))
	if got := flushAt(p, 61, dueAll); got[60][0] != 1<<3 {
		t.Fatalf("a flush of everything took %v; want the held refresh", got)
	}
}

func TestWritePlanFailedWriteIsTriedAgainUnlessNoLongerRead(t *testing.T) {
	p := newWritePlan(30 * time.Second)
	addAt(p, 61, planBucket("m", 60, map[uint64]uint64{0: 1 << 3}))
	ws := p.due(serverAt(61), dueOnTime)
	if len(ws) != 1 || !p.failed(ws[0], slotAt(61)) {
		t.Fatalf("a failed write of the current slot was not kept: %v", ws)
	}
	if got := flushAt(p, 62, dueOnTime); got[60][0] != 1<<3 {
		t.Fatalf("the retry took %v", got)
	}
	// A write of slot 60 fails when the server's clock is in slot 150: no
	// watcher reads slot 60 then, and it is dropped.
	addAt(p, 63, planBucket("m", 60, map[uint64]uint64{0: 1 << 4}))
	ws = p.due(serverAt(63), dueOnTime)
	if p.failed(ws[0], 150) {
		t.Fatalf("a write of slot 60 was kept with the server's clock in slot 150")
	}
	if dropped := p.forget(150); dropped != 0 || p.docs[bucketKey{"m", 60}] != nil {
		t.Fatalf("forget dropped %d, left slot 60: %v", dropped, p.docs[bucketKey{"m", 60}])
	}
}

// TestWritePlanFarPingPoisonsNothing is the regression test of a ping for
// a future slot: the plan judged every document's age by the newest slot
// ever pinged, so one ping five periods ahead made it forget the held
// refreshes of correctly timed documents of every model (never written:
// their keys read dead at the next slot) and drop failed writes instead of
// retrying them, for the rest of the batcher's life. Ages are now judged
// on the server's clock, and the far ping itself is written at once.
func TestWritePlanFarPingPoisonsNothing(t *testing.T) {
	p := newWritePlan(30 * time.Second)
	addAt(p, 31, planBucket("m", 30, map[uint64]uint64{0: 1 << 3}))
	flushAt(p, 31, dueOnTime)
	addAt(p, 61, planBucket("m", 60, map[uint64]uint64{0: 1 << 3})) // a refresh, held
	if near := addAt(p, 62, planBucket("x", 60+5*30, map[uint64]uint64{0: 1 << 1})); near {
		t.Fatalf("a ping five periods ahead was taken as near now")
	}
	if got := flushAt(p, 62, dueOnTime); got[210][0] != 1<<1 || got[60] != nil {
		t.Fatalf("at 62 s: took %v; want the far ping at once and the refresh still held", got)
	}
	if got := flushAt(p, 68, dueOnTime); got[60][0] != 1<<3 {
		t.Fatalf("at 68 s: took %v; want the refresh held before the far ping", got)
	}
	// A failed write of the current slot is still tried again.
	addAt(p, 69, planBucket("m", 60, map[uint64]uint64{0: 1 << 6}))
	ws := p.due(serverAt(69), dueOnTime)
	if len(ws) != 1 || !p.failed(ws[0], slotAt(69)) {
		t.Fatalf("after a far ping, a failed write of the current slot was dropped: %v", ws)
	}
	if dropped := p.forget(slotAt(69)); dropped != 0 {
		t.Fatalf("forget dropped %d documents of the current slot", dropped)
	}
}

func TestWritePlanPastPingIsWrittenAtOnce(t *testing.T) {
	p := newWritePlan(30 * time.Second)
	addAt(p, 121, planBucket("m", 60, map[uint64]uint64{0: 1 << 3}))
	addAt(p, 121, planBucket("m", 30, map[uint64]uint64{0: 1 << 3}))
	got := flushAt(p, 121, dueOnTime)
	if got[60][0] != 1<<3 || got[30][0] != 1<<3 {
		t.Fatalf("pings of past slots still read: took %v; want both at once", got)
	}
}

func TestWritePlanModelsApart(t *testing.T) {
	p := newWritePlan(30 * time.Second)
	addAt(p, 31, planBucket("a", 30, map[uint64]uint64{0: 1 << 3}))
	flushAt(p, 31, dueOnTime)
	// Model b's seq 3 is not model a's: it is news.
	addAt(p, 61, planBucket("b", 60, map[uint64]uint64{0: 1 << 3}))
	if got := flushAt(p, 61, dueOnTime); got[60][0] != 1<<3 {
		t.Fatalf("another model's ping was held: %v", got)
	}
}

// TestWritePlanForgetsModelsThatStopped checks that the plan keeps nothing
// of a model whose agents all stopped, once the server's clock shows its
// documents are no longer read.
func TestWritePlanForgetsModelsThatStopped(t *testing.T) {
	p := newWritePlan(30 * time.Second)
	addAt(p, 61, planBucket("gone", 60, map[uint64]uint64{0: 1}))
	flushAt(p, 61, dueOnTime)
	addAt(p, 151, planBucket("busy", 150, map[uint64]uint64{0: 1}))
	flushAt(p, 151, dueOnTime)
	for k := range p.docs {
		if k.modelUUID == "gone" {
			t.Errorf("slot %d of a model that stopped is still kept at 151 s", k.slot)
		}
	}
	if len(p.docs) != 1 {
		t.Errorf("kept %d documents; want 1", len(p.docs))
	}
}

// TestWritePlanForgetsWrittenFarDocuments checks that a document far ahead
// of the server's clock is kept only while it has bits to write.
func TestWritePlanForgetsWrittenFarDocuments(t *testing.T) {
	p := newWritePlan(30 * time.Second)
	addAt(p, 61, planBucket("m", 600, map[uint64]uint64{0: 1}))
	ws := p.due(serverAt(61), dueOnTime)
	p.failed(ws[0], slotAt(61))
	p.forget(slotAt(61))
	if p.docs[bucketKey{"m", 600}] == nil {
		t.Fatalf("a far document whose write failed was forgotten")
	}
	flushAt(p, 62, dueOnTime)
	if p.docs[bucketKey{"m", 600}] != nil {
		t.Fatalf("a far document was kept once written")
	}
}
