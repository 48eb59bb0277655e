package livestate

import (
	"fmt"
	"testing"

	"github.com/presence-go/presence/internal/bitfield"
)

// benchSizes are the fleet sizes of the scaling curve.
var benchSizes = []int{1000, 10000, 100000}

// slotFields returns the decoded alive fields of a slot where sequences
// 1..n pinged, and the dead fields where every hundredth of them (1%) was
// killed.
func slotFields(n int) (alive, dead map[int64]uint64) {
	alive = make(map[int64]uint64)
	dead = make(map[int64]uint64)
	for seq := int64(1); seq <= int64(n); seq++ {
		index, bit := seq/bitfield.BitsPerField, uint64(1)<<uint(seq%bitfield.BitsPerField)
		alive[index] |= bit
		if seq%100 == 0 {
			dead[index] |= bit
		}
	}
	return alive, dead
}

// windowOf builds the window of two live slots holding the same pings, with
// or without the 1% of kills.
func windowOf(alive, dead map[int64]uint64, killed bool) Window {
	w := Window{}
	w.Add(alive, nil)
	if killed {
		w.Add(alive, dead)
	} else {
		w.Add(alive, nil)
	}
	return w
}

// keyOf names the key of a sequence; every key has one sequence.
func keyOf(seq int64) string { return fmt.Sprintf("machine-%d", seq) }

// trackerOf returns a tracker that follows every sequence of w.
func trackerOf(w Window, keys map[int64]string) *Tracker {
	t := NewTracker()
	Changed(Window{}, w, func(seq int64, st State) { t.Set(seq, keys[seq], st) })
	return t
}

// BenchmarkSyncLogic measures what a watcher does with the two decoded slot
// documents of a sync: build the window, diff it with the previous one and
// apply the changes to the tracker. With changed=1% every op flips 1% of
// the keys (alternately killed and revived), so a steady 1% churn.
func BenchmarkSyncLogic(b *testing.B) {
	for _, n := range benchSizes {
		alive, dead := slotFields(n)
		keys := make(map[int64]string, n)
		for seq := int64(1); seq <= int64(n); seq++ {
			keys[seq] = keyOf(seq)
		}
		for _, churn := range []string{"0", "1%"} {
			b.Run(fmt.Sprintf("keys=%d/changed=%s", n, churn), func(b *testing.B) {
				prev := windowOf(alive, dead, false)
				t := trackerOf(prev, keys)
				killed := false
				changes := 0
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if churn != "0" {
						killed = !killed
					}
					next := Window{}
					next.Add(alive, nil)
					if killed {
						next.Add(alive, dead)
					} else {
						next.Add(alive, nil)
					}
					Changed(prev, next, func(seq int64, st State) {
						changes++
						t.Set(seq, keys[seq], st)
					})
					prev = next
				}
				b.StopTimer()
				b.ReportMetric(float64(changes)/float64(b.N), "changes/op")
				if t.LiveCount() < n-n/100 {
					b.Fatalf("%d keys alive, want at least %d", t.LiveCount(), n-n/100)
				}
			})
		}
	}
}

// BenchmarkChanged measures the diff and tracker update alone, between two
// windows built beforehand.
func BenchmarkChanged(b *testing.B) {
	for _, n := range benchSizes {
		alive, dead := slotFields(n)
		keys := make(map[int64]string, n)
		for seq := int64(1); seq <= int64(n); seq++ {
			keys[seq] = keyOf(seq)
		}
		for _, churn := range []string{"0", "1%"} {
			b.Run(fmt.Sprintf("keys=%d/changed=%s", n, churn), func(b *testing.B) {
				windows := [2]Window{windowOf(alive, dead, false), windowOf(alive, dead, churn != "0")}
				t := trackerOf(windows[0], keys)
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					prev, next := windows[i%2], windows[(i+1)%2]
					Changed(prev, next, func(seq int64, st State) { t.Set(seq, keys[seq], st) })
				}
			})
		}
	}
}

// BenchmarkTrackerColdStart measures filling a tracker from nothing, as a
// new watcher does once its lookups have named every sequence.
func BenchmarkTrackerColdStart(b *testing.B) {
	for _, n := range benchSizes {
		alive, dead := slotFields(n)
		keys := make(map[int64]string, n)
		for seq := int64(1); seq <= int64(n); seq++ {
			keys[seq] = keyOf(seq)
		}
		w := windowOf(alive, dead, false)
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if t := trackerOf(w, keys); t.LiveCount() != n {
					b.Fatalf("%d keys alive, want %d", t.LiveCount(), n)
				}
			}
		})
	}
}
