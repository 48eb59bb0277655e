package livestate

import (
	"maps"
	"testing"
)

func TestViewLastPingedIsTheLatestSlotWithTheAliveBit(t *testing.T) {
	var v View
	// Slot 30: seqs 1 and 2 pinged, and 63 (bit 0 of field 1). Slot 60:
	// seq 2 pinged again, seq 3 was killed without a ping in the window,
	// and seq 4 pinged and was killed.
	update(&v,
		Doc{Slot: 30, Alive: fields(t, "0", int64(1<<1|1<<2), "1", int64(1))},
		Doc{Slot: 60, Alive: fields(t, "0", int64(1<<2|1<<4)), Dead: fields(t, "0", int64(1<<3|1<<4))})
	for _, c := range []struct {
		seq  int64
		slot int64
		ok   bool
	}{
		{1, 30, true},
		{2, 60, true},
		{3, 0, false},
		{4, 60, true},
		{5, 0, false},
		{63, 30, true},
		{-1, 0, false},
	} {
		if slot, ok := v.LastPinged(c.seq); slot != c.slot || ok != c.ok {
			t.Errorf("LastPinged(%d) = %d, %v; want %d, %v", c.seq, slot, ok, c.slot, c.ok)
		}
	}

	// The window moves on: slot 30 leaves it, and seq 1 with it.
	update(&v,
		Doc{Slot: 60, Alive: fields(t, "0", int64(1<<2|1<<4)), Dead: fields(t, "0", int64(1<<3|1<<4))},
		Doc{Slot: 90, Alive: fields(t, "0", int64(1<<2))})
	if slot, ok := v.LastPinged(1); ok {
		t.Errorf("LastPinged(1) = %d after its slot left the view", slot)
	}
	if slot, ok := v.LastPinged(2); slot != 90 || !ok {
		t.Errorf("LastPinged(2) = %d, %v; want 90, true", slot, ok)
	}
}

func TestTrackerEachNewestGivesTheDecidingSequence(t *testing.T) {
	tr := NewTracker()
	// a: restarted, both sequences live; the newer decides.
	tr.Set(1, "a", Alive)
	tr.Set(5, "a", Alive)
	// b: killed.
	tr.Set(2, "b", Alive|Dead)
	// c: a newer pinger was killed, so c reads dead though 3 is alive.
	tr.Set(3, "c", Alive)
	tr.Set(7, "c", Alive|Dead)
	// d: its newer sequence left the window; the older one decides again.
	tr.Set(4, "d", Alive)
	tr.Set(8, "d", Alive)
	tr.Set(8, "d", Unseen)
	// e: gone altogether.
	tr.Set(6, "e", Alive)
	tr.Set(6, "e", Unseen)

	type newest struct {
		seq   int64
		alive bool
	}
	got := map[string]newest{}
	tr.EachNewest(func(key string, seq int64, alive bool) {
		if _, twice := got[key]; twice {
			t.Errorf("key %s given twice", key)
		}
		got[key] = newest{seq, alive}
	})
	want := map[string]newest{"a": {5, true}, "b": {2, false}, "c": {7, false}, "d": {4, true}}
	if !maps.Equal(got, want) {
		t.Errorf("EachNewest gave %v, want %v", got, want)
	}
}
