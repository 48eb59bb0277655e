package livestate

import "math/bits"

// What the tests look at in a View or a Tracker and no watcher needs.

// Len returns the number of sequences with a bit in the view.
func (v *View) Len() int {
	seen := make(map[int64]Word)
	for _, d := range v.docs {
		for p := range d.parts {
			for index := range d.parts[p].words {
				seen[index] = v.word(index)
			}
		}
	}
	n := 0
	for _, w := range seen {
		n += bits.OnesCount64(w.Alive | w.Dead)
	}
	return n
}

// Seq returns the sequence that makes key alive, if it is.
func (t *Tracker) Seq(key string) (int64, bool) {
	id, ok := t.byKey.get(t, key)
	if !ok || !t.aliveAt(id) {
		return 0, false
	}
	return t.records[id].newest, true
}

// KeyCount returns how many keys the tracker holds, alive or not.
func (t *Tracker) KeyCount() int {
	n := len(t.records) - len(t.free)
	for _, id := range t.dormant {
		if t.records[id].newest < 0 {
			n--
		}
	}
	return n
}
