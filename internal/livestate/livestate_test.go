package livestate

import (
	"reflect"
	"sort"
	"testing"
)

type change struct {
	seq int64
	st  State
}

func changes(prev, next Window) []change {
	var got []change
	Changed(prev, next, func(seq int64, st State) { got = append(got, change{seq, st}) })
	sort.Slice(got, func(i, j int) bool { return got[i].seq < got[j].seq })
	return got
}

func TestChangedNothing(t *testing.T) {
	w := Window{0: {Alive: 0b1011}, 5: {Alive: 1, Dead: 1}}
	same := Window{0: {Alive: 0b1011}, 5: {Alive: 1, Dead: 1}}
	if got := changes(w, same); len(got) != 0 {
		t.Errorf("identical windows gave %v", got)
	}
}

func TestChangedEachKind(t *testing.T) {
	prev := Window{
		0: {Alive: 1<<1 | 1<<2 | 1<<3},
		2: {Alive: 1},
	}
	next := Window{
		0: {Alive: 1<<1 | 1<<3 | 1<<4, Dead: 1 << 3},
		1: {Alive: 1 << 62},
	}
	want := []change{
		{2, Unseen},       // seq 2 left the window
		{3, Alive | Dead}, // seq 3 was killed
		{4, Alive},        // seq 4 appeared
		{63 + 62, Alive},  // a new field
		{126, Unseen},     // a whole field left
	}
	if got := changes(prev, next); !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

func TestWindowAddAndStateOf(t *testing.T) {
	w := Window{}
	w.Add(map[int64]uint64{0: 1, 1: 2}, nil)
	w.Add(map[int64]uint64{0: 4}, map[int64]uint64{1: 2})
	if st := w.StateOf(0); st != Alive {
		t.Errorf("seq 0: %v", st)
	}
	if st := w.StateOf(2); st != Alive {
		t.Errorf("seq 2: %v", st)
	}
	if st := w.StateOf(64); st != Alive|Dead {
		t.Errorf("seq 64: %v", st)
	}
	if st := w.StateOf(1); st != Unseen {
		t.Errorf("seq 1: %v", st)
	}
	if n := w.Len(); n != 3 {
		t.Errorf("Len = %d", n)
	}
}

func TestTrackerSingleSeq(t *testing.T) {
	tr := NewTracker()
	if alive, changed := tr.Set(7, "a", Alive); !alive || !changed {
		t.Fatalf("first ping: %v %v", alive, changed)
	}
	if alive, changed := tr.Set(7, "a", Alive); !alive || changed {
		t.Fatalf("same state again: %v %v", alive, changed)
	}
	if key, ok := tr.KeyOf(7); !ok || key != "a" {
		t.Fatalf("KeyOf(7) = %q %v", key, ok)
	}
	if seq, ok := tr.Seq("a"); !ok || seq != 7 {
		t.Fatalf("Seq(a) = %d %v", seq, ok)
	}
	if alive, changed := tr.Set(7, "a", Alive|Dead); alive || !changed {
		t.Fatalf("kill: %v %v", alive, changed)
	}
	if alive, changed := tr.Set(7, "a", Unseen); alive || changed {
		t.Fatalf("expiry of a dead seq: %v %v", alive, changed)
	}
	if _, ok := tr.KeyOf(7); ok || tr.SeqCount() != 0 || tr.LiveCount() != 0 {
		t.Fatalf("seq 7 not forgotten")
	}
}

func TestTrackerNewestSeqWins(t *testing.T) {
	tr := NewTracker()
	tr.Set(5, "k", Alive)
	// A second pinger for the same key starts, then is killed: its newer
	// sequence decides, so the key reads dead.
	tr.Set(6, "k", Alive)
	if alive, changed := tr.Set(6, "k", Alive|Dead); alive || !changed {
		t.Fatalf("kill of the newest seq: alive=%v changed=%v", alive, changed)
	}
	// Once the kill leaves the window, the older pinger makes it alive again.
	if alive, changed := tr.Set(6, "k", Unseen); !alive || !changed {
		t.Fatalf("expiry of the kill: alive=%v changed=%v", alive, changed)
	}
	// A kill of an older sequence does not hide a newer live one.
	tr.Set(9, "k", Alive)
	if alive, changed := tr.Set(5, "k", Alive|Dead); !alive || changed {
		t.Fatalf("kill of an older seq: alive=%v changed=%v", alive, changed)
	}
	if seq, _ := tr.Seq("k"); seq != 9 {
		t.Fatalf("Seq = %d, want 9", seq)
	}
}

func TestTrackerCounts(t *testing.T) {
	tr := NewTracker()
	for i := int64(0); i < 10; i++ {
		tr.Set(i, string(rune('a'+i)), Alive)
	}
	tr.Set(3, "d", Dead|Alive)
	tr.Set(4, "e", Unseen)
	if tr.LiveCount() != 8 || tr.SeqCount() != 9 {
		t.Fatalf("live %d seqs %d", tr.LiveCount(), tr.SeqCount())
	}
	var keys []string
	tr.EachAlive(func(k string) { keys = append(keys, k) })
	sort.Strings(keys)
	want := []string{"a", "b", "c", "f", "g", "h", "i", "j"}
	if !reflect.DeepEqual(keys, want) {
		t.Fatalf("alive %v", keys)
	}
}
