package livestate

import (
	"math/rand/v2"
	"reflect"
	"sort"
	"strconv"
	"testing"
)

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
	if _, ok := tr.KeyOf(7); ok || tr.SeqCount() != 0 || tr.LiveCount() != 0 || tr.KeyCount() != 0 {
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
	if tr.LiveCount() != 8 || tr.SeqCount() != 9 || tr.KeyCount() != 9 {
		t.Fatalf("live %d seqs %d keys %d", tr.LiveCount(), tr.SeqCount(), tr.KeyCount())
	}
	var keys []string
	tr.EachAlive(func(k string) { keys = append(keys, k) })
	sort.Strings(keys)
	want := []string{"a", "b", "c", "f", "g", "h", "i", "j"}
	if !reflect.DeepEqual(keys, want) {
		t.Fatalf("alive %v", keys)
	}
}

// TestTrackerMatchesAPlainModel drives a tracker and a model made of plain
// maps with the same random operations, many more than its tables' first
// sizes so that they grow, and removals that exercise their probe runs:
// every answer must agree at every step.
func TestTrackerMatchesAPlainModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tr := NewTracker()
	seqState := map[int64]State{}
	seqKey := map[int64]string{}
	keyOf := func(seq int64) string { return "key-" + strconv.FormatInt(seq%300, 10) }
	modelAlive := func(key string) bool {
		var newest int64 = -1
		for seq, k := range seqKey {
			if k == key && seq > newest {
				newest = seq
			}
		}
		return newest >= 0 && seqState[newest].live()
	}
	for step := 0; step < 20000; step++ {
		seq := int64(rng.IntN(2000))
		st := []State{Unseen, Alive, Alive | Dead, Dead}[rng.IntN(4)]
		key := keyOf(seq)
		was := modelAlive(key)
		if st == Unseen {
			delete(seqState, seq)
			delete(seqKey, seq)
		} else {
			seqState[seq], seqKey[seq] = st, key
		}
		now := modelAlive(key)
		alive, changed := tr.Set(seq, key, st)
		if alive != now || changed != (now != was) {
			t.Fatalf("step %d: Set(%d, %q, %v) = %v, %v; want %v, %v", step, seq, key, st, alive, changed, now, now != was)
		}
		if step%1000 == 0 || step == 19999 {
			if tr.SeqCount() != len(seqKey) {
				t.Fatalf("step %d: %d seqs, want %d", step, tr.SeqCount(), len(seqKey))
			}
			for s, k := range seqKey {
				if got, ok := tr.KeyOf(s); !ok || got != k {
					t.Fatalf("step %d: KeyOf(%d) = %q, %v; want %q", step, s, got, ok, k)
				}
			}
			live := 0
			for i := int64(0); i < 300; i++ {
				key := keyOf(i)
				if tr.Alive(key) != modelAlive(key) {
					t.Fatalf("step %d: Alive(%q) = %v", step, key, tr.Alive(key))
				}
				if modelAlive(key) {
					live++
				}
			}
			if tr.LiveCount() != live {
				t.Fatalf("step %d: LiveCount = %d, want %d", step, tr.LiveCount(), live)
			}
		}
	}
}

// TestTrackerBatchReportsNetChanges applies several changes between Begin
// and End: End names each key whose liveness differs from before Begin,
// once, and no key that came back to where it was.
func TestTrackerBatchReportsNetChanges(t *testing.T) {
	tr := NewTracker()
	tr.Set(1, "restarted", Alive)
	tr.Set(2, "killed", Alive)
	tr.Set(3, "stopped", Alive)
	tr.Begin()
	tr.Set(1, "restarted", Unseen) // the old sequence leaves...
	tr.Set(4, "restarted", Alive)  // ...as the new one arrives
	tr.Set(2, "killed", Alive|Dead)
	tr.Set(3, "stopped", Unseen)
	tr.Set(5, "new", Alive)
	tr.Set(6, "gone", Alive) // a key that comes and goes within the batch
	tr.Set(6, "gone", Unseen)
	tr.Set(7, "reused", Alive) // may take the record "stopped" or "gone" freed
	got := map[string]bool{}
	tr.End(func(key string, alive bool) {
		if _, twice := got[key]; twice {
			t.Errorf("%q reported twice", key)
		}
		got[key] = alive
	})
	want := map[string]bool{"killed": false, "stopped": false, "new": true, "reused": true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("End reported %v, want %v", got, want)
	}
	if tr.KeyCount() != 4 || tr.LiveCount() != 3 {
		t.Errorf("%d keys, %d alive; want 4 and 3", tr.KeyCount(), tr.LiveCount())
	}
}

// TestTrackerArenaCompaction starts and forgets enough distinct keys that
// the arena holding their names fills mostly with forgotten ones and is
// copied afresh: the keys still held keep their names, and names handed
// out before the copy stay readable.
func TestTrackerArenaCompaction(t *testing.T) {
	tr := NewTracker()
	const n = 20000
	name := func(seq int64) string { return "unit-application-with-a-long-name/" + strconv.FormatInt(seq, 10) }
	for seq := int64(1); seq <= n; seq++ {
		tr.Set(seq, name(seq), Alive)
	}
	early, _ := tr.KeyOf(n) // a name handed out before any copy
	for seq := int64(1); seq <= n; seq++ {
		if seq%10 != 0 {
			tr.Set(seq, name(seq), Unseen)
		}
	}
	if tr.arena.total > 2*tr.arena.used+arenaChunk {
		t.Errorf("arena holds %d bytes for %d in use: it was not compacted", tr.arena.total, tr.arena.used)
	}
	if early != name(n) {
		t.Errorf("a name handed out before the compaction reads %q", early)
	}
	for seq := int64(1); seq <= n; seq++ {
		key, ok := tr.KeyOf(seq)
		if seq%10 == 0 && (!ok || key != name(seq) || !tr.Alive(name(seq))) {
			t.Fatalf("seq %d: KeyOf = %q, %v; alive %v", seq, key, ok, tr.Alive(name(seq)))
		}
		if seq%10 != 0 && (ok || tr.Alive(name(seq))) {
			t.Fatalf("forgotten seq %d still held", seq)
		}
	}
	if tr.KeyCount() != n/10 || tr.LiveCount() != n/10 {
		t.Errorf("%d keys, %d alive; want %d", tr.KeyCount(), tr.LiveCount(), n/10)
	}
}

// TestBigBatchLeavesNoScratch checks that a tracker filled in one large
// batch, as a watcher's first sync fills it, does not keep the batch's
// scratch list for its life, and that a small batch keeps its list for the
// next one.
func TestBigBatchLeavesNoScratch(t *testing.T) {
	tr := NewTracker()
	tr.Begin()
	for seq := int64(1); seq <= 10*scratchKept; seq++ {
		tr.Set(seq, "machine-"+strconv.FormatInt(seq, 10), Alive)
	}
	tr.End(func(string, bool) {})
	if c := cap(tr.touched); c > scratchKept {
		t.Fatalf("after a batch of %d keys the tracker keeps a scratch list of %d", 10*scratchKept, c)
	}
	tr.Begin()
	for seq := int64(1); seq <= 10; seq++ {
		tr.Set(seq, "machine-"+strconv.FormatInt(seq, 10), Dead)
	}
	tr.End(func(string, bool) {})
	if c := cap(tr.touched); c == 0 {
		t.Fatal("a small batch's scratch list was dropped")
	}
	if tr.LiveCount() != 10*scratchKept-10 {
		t.Fatalf("%d keys alive, want %d", tr.LiveCount(), 10*scratchKept-10)
	}
}
