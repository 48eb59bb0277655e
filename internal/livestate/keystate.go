package livestate

import "github.com/presence-go/presence/internal/layout"

// What a watcher tells of a key beyond its liveness: the sequence that
// decides it, and the last live slot in which that sequence pinged.

// EachNewest calls fn for every key the tracker holds with its newest seen
// sequence, the one that decides its liveness, and that liveness.
func (t *Tracker) EachNewest(fn func(key string, seq int64, alive bool)) {
	for id := range t.records {
		if r := t.records[id]; r.newest >= 0 {
			fn(t.keyOf(int32(id)), r.newest, t.aliveAt(int32(id)))
		}
	}
}

// LastPinged returns the latest slot of the view whose document has the
// alive bit of seq, and false when none has.
func (v *View) LastPinged(seq int64) (slot int64, ok bool) {
	if seq < 0 {
		return 0, false
	}
	index := seq / layout.BitsPerField
	bit := uint64(1) << uint(seq%layout.BitsPerField)
	for _, d := range v.docs {
		if d.parts[alivePart].words[index]&bit != 0 && (!ok || d.slot > slot) {
			slot, ok = d.slot, true
		}
	}
	return slot, ok
}
