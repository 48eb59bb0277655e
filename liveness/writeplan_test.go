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

// dueNow runs p.due at the server time at (seconds), known, and returns
// the bits taken per slot.
func dueNow(p *writePlan, at float64, all bool) map[int64]map[uint64]uint64 {
	got := map[int64]map[uint64]uint64{}
	now := time.Unix(0, int64(at*float64(time.Second)))
	for _, w := range p.due(now, true, all) {
		got[w.key.slot] = w.bits
		p.done(w)
	}
	return got
}

func TestWritePlanNewsGoesAtOnce(t *testing.T) {
	p := newWritePlan(30 * time.Second)
	p.add(planBucket("m", 60, map[uint64]uint64{0: 1 << 3}))
	got := dueNow(p, 61, false)
	if len(got) != 1 || got[60][0] != 1<<3 {
		t.Fatalf("news of slot 60 at 61 s: took %v", got)
	}
}

func TestWritePlanRefreshWaitsForTheEndOfThePingWindow(t *testing.T) {
	p := newWritePlan(30 * time.Second)
	p.add(planBucket("m", 30, map[uint64]uint64{0: 1<<3 | 1<<4}))
	dueNow(p, 31, false) // written into slot 30
	// In slot 60, seq 3 pings again (a refresh), seq 5 for the first time.
	p.add(planBucket("m", 60, map[uint64]uint64{0: 1<<3 | 1<<5}))
	if got := dueNow(p, 61, false); len(got) != 1 || got[60][0] != 1<<5 {
		t.Fatalf("at 61 s: took %v; want only the news, seq 5", got)
	}
	if got := dueNow(p, 67.4, false); len(got) != 0 {
		t.Fatalf("at 67.4 s, inside the ping window: took %v", got)
	}
	if got := dueNow(p, 67.5, false); len(got) != 1 || got[60][0] != 1<<3 {
		t.Fatalf("at 67.5 s, the window over: took %v; want the refresh of seq 3", got)
	}
	// Seq 3 pings slot 60 again: it is written there, so nothing goes.
	p.add(planBucket("m", 60, map[uint64]uint64{0: 1 << 3}))
	if got := dueNow(p, 70, true); len(got) != 0 {
		t.Fatalf("a bit already written went again: %v", got)
	}
}

func TestWritePlanLateRefreshesWaitForHalfTheSlot(t *testing.T) {
	p := newWritePlan(30 * time.Second)
	p.add(planBucket("m", 30, map[uint64]uint64{0: 1<<3 | 1<<4 | 1<<5}))
	dueNow(p, 31, false)
	p.add(planBucket("m", 60, map[uint64]uint64{0: 1 << 3}))
	dueNow(p, 68, false) // the refresh of seq 3
	// Seqs 4 and 5 ping late, at 69 s and 71 s: one write, at 75 s.
	p.add(planBucket("m", 60, map[uint64]uint64{0: 1 << 4}))
	if got := dueNow(p, 70, false); len(got) != 0 {
		t.Fatalf("at 70 s: took %v; late refreshes wait for half the slot", got)
	}
	p.add(planBucket("m", 60, map[uint64]uint64{0: 1 << 5}))
	if got := dueNow(p, 75, false); got[60][0] != 1<<4|1<<5 {
		t.Fatalf("at 75 s: took %v; want both late refreshes", got)
	}
}

func TestWritePlanSyncTakesHeldRefreshes(t *testing.T) {
	p := newWritePlan(30 * time.Second)
	p.add(planBucket("m", 30, map[uint64]uint64{0: 1 << 3}))
	dueNow(p, 31, false)
	p.add(planBucket("m", 60, map[uint64]uint64{0: 1 << 3}))
	if got := dueNow(p, 61, true); got[60][0] != 1<<3 {
		t.Fatalf("a flush of everything took %v; want the held refresh", got)
	}
}

func TestWritePlanFailedWriteIsTriedAgainUnlessTooOld(t *testing.T) {
	p := newWritePlan(30 * time.Second)
	p.add(planBucket("m", 60, map[uint64]uint64{0: 1 << 3}))
	ws := p.due(time.Unix(61, 0), true, false)
	if len(ws) != 1 || !p.failed(ws[0]) {
		t.Fatalf("a failed write of the newest slot was not kept: %v", ws)
	}
	if got := dueNow(p, 62, false); got[60][0] != 1<<3 {
		t.Fatalf("the retry took %v", got)
	}
	// A write of slot 60 fails when the model has pinged slot 150: no
	// watcher reads slot 60 then, and it is dropped.
	p.add(planBucket("m", 60, map[uint64]uint64{0: 1 << 4}))
	ws = p.due(time.Unix(63, 0), true, false)
	p.add(planBucket("m", 150, map[uint64]uint64{0: 1 << 4}))
	if p.failed(ws[0]) {
		t.Fatalf("a write of slot 60 was kept with slot 150 pinged")
	}
	if dropped := p.forget(); dropped != 0 || p.docs[bucketKey{"m", 60}] != nil {
		t.Fatalf("forget dropped %d, left slot 60: %v", dropped, p.docs[bucketKey{"m", 60}])
	}
}

func TestWritePlanModelsApart(t *testing.T) {
	p := newWritePlan(30 * time.Second)
	p.add(planBucket("a", 30, map[uint64]uint64{0: 1 << 3}))
	dueNow(p, 31, false)
	// Model b's seq 3 is not model a's: it is news.
	p.add(planBucket("b", 60, map[uint64]uint64{0: 1 << 3}))
	if got := dueNow(p, 61, false); got[60][0] != 1<<3 {
		t.Fatalf("another model's ping was held: %v", got)
	}
}

// TestWritePlanForgetsModelsThatStopped checks that the plan keeps nothing
// of a model whose agents all stopped, once another model's slots show
// its documents are no longer read.
func TestWritePlanForgetsModelsThatStopped(t *testing.T) {
	p := newWritePlan(30 * time.Second)
	p.add(planBucket("gone", 60, map[uint64]uint64{0: 1}))
	dueNow(p, 61, false)
	p.add(planBucket("busy", 150, map[uint64]uint64{0: 1}))
	dueNow(p, 151, false)
	p.forget()
	if _, ok := p.docs[bucketKey{"gone", 60}]; ok {
		t.Errorf("slot 60 of a model that stopped is still kept with slot 150 pinged")
	}
	for k := range p.docs {
		if k.modelUUID == "gone" {
			t.Errorf("slot %d of a model that stopped is still kept", k.slot)
		}
	}
	if len(p.docs) != 1 {
		t.Errorf("kept %d documents; want 1", len(p.docs))
	}
}
