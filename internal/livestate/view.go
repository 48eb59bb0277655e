package livestate

import (
	"bytes"
	"cmp"
	"slices"

	"github.com/presence-go/presence/internal/layout"
)

// View is what a watcher has read of its model's live slot documents. It
// keeps, from one read to the next, the bytes of each document's alive and
// dead parts and their words by field index, so that a read costs time in
// proportion to what changed: a part whose bytes did not change is not
// looked at again, one that grew is read from where it had ended, and the
// words that differ are the only ones compared.
type View struct {
	docs []*docView // the documents of the live slots (at most two)
}

// Doc is one slot document as read, split into its slot and the bytes of
// its alive and dead parts by layout.SplitSlotDoc.
type Doc = layout.SlotParts

// docView is what the view holds of one slot document.
type docView struct {
	slot  int64
	parts [2]partView // alive, dead
}

// partView is what the view holds of one part of a slot document.
type partView struct {
	raw   []byte           // the part's bytes as last read; nil when absent
	words map[int64]uint64 // field index → bits, as decoded from raw
	// careful is set when raw had to be decoded whole, field by field:
	// its elements then cannot be compared one by one with the next read.
	// While it is clear, raw is as the fast path accepts it, and words
	// holds one entry for each of raw's elements, which GrownPart relies
	// on.
	careful bool
}

const (
	alivePart = 0
	deadPart  = 1
)

// partUpdate is what a read brings to one part: the new bytes and the
// words that changed, or, when the part had to be decoded afresh, its
// words whole.
type partUpdate struct {
	doc     *docView
	part    int
	raw     []byte
	changes []layout.WordChange
	overlay map[int64]uint64 // changes by index
	whole   map[int64]uint64 // non-nil: replaces the part's words
	careful bool             // whole had to be decoded field by field
}

// StateOf returns the state of seq in the view.
func (v *View) StateOf(seq int64) State {
	index := seq / layout.BitsPerField
	return stateOf(v.word(index), uint64(1)<<uint(seq%layout.BitsPerField))
}

// word returns the alive and dead bits of field index over the live slots.
func (v *View) word(index int64) Word {
	var w Word
	for _, d := range v.docs {
		w.Alive |= d.parts[alivePart].words[index]
		w.Dead |= d.parts[deadPart].words[index]
	}
	return w
}

// SeqState is a sequence and its state.
type SeqState struct {
	Seq   int64
	State State
}

// Read is what one read of the live slot documents changes in a View,
// worked out but not applied: a watcher looks up the keys of new sequences
// before it commits to a read, and leaves its view as it was when it
// cannot.
type Read struct {
	view    *View
	live    []*docView   // the documents of the live slots after the read
	updates []partUpdate // what the read changes in their parts
	after   map[int64]Word
	changes []SeqState
}

// Read works out what docs, the documents read for the live slots, change
// in the view: slots of the view that are not among docs' are dropped, and
// parts that cannot be read are reported to bad with the document's slot
// and left out. The view is unchanged until Apply. Read keeps no reference
// to docs' bytes once applied.
func (v *View) Read(docs []Doc, bad func(slot int64, problem string)) *Read {
	r := &Read{view: v}
	var leaving []*docView
	for _, d := range v.docs {
		if !hasSlot(docs, d.slot) {
			leaving = append(leaving, d)
		}
	}
	for _, doc := range docs {
		d := v.doc(doc.Slot)
		if d == nil {
			d = &docView{slot: doc.Slot}
		}
		r.live = append(r.live, d)
		for p, raw := range [2][]byte{doc.Alive, doc.Dead} {
			if u, ok := d.update(p, raw, func(problem string) { bad(doc.Slot, problem) }); ok {
				r.updates = append(r.updates, u)
			}
		}
	}
	if len(r.updates) == 0 && len(leaving) == 0 {
		return r
	}

	// Every field whose word may move: compare its word over the live
	// slots before and after, once, whatever touched it.
	r.after = make(map[int64]Word)
	for _, d := range leaving {
		for p := range d.parts {
			for index := range d.parts[p].words {
				r.after[index] = Word{}
			}
		}
	}
	for i := range r.updates {
		u := &r.updates[i]
		if u.whole != nil {
			for index := range u.whole {
				r.after[index] = Word{}
			}
			for _, c := range u.changes {
				r.after[c.Index] = Word{}
			}
			continue
		}
		u.overlay = make(map[int64]uint64, len(u.changes))
		for _, c := range u.changes {
			u.overlay[c.Index] = c.Word
			r.after[c.Index] = Word{}
		}
	}
	for index := range r.after {
		old, now := r.words(index)
		r.after[index] = now
		if diff := (old.Alive ^ now.Alive) | (old.Dead ^ now.Dead); diff != 0 {
			layout.EachSeq(index, diff, func(seq int64) {
				r.changes = append(r.changes, SeqState{seq, stateOf(now, uint64(1)<<uint(seq-index*layout.BitsPerField))})
			})
		}
	}
	slices.SortFunc(r.changes, func(a, b SeqState) int { return cmp.Compare(a.Seq, b.Seq) })
	return r
}

// words returns the word of field index over the live slots before the
// read and after it.
func (r *Read) words(index int64) (before, after Word) {
	before = r.view.word(index)
	for _, d := range r.live {
		for p := range d.parts {
			word := d.parts[p].words[index]
			for i := range r.updates {
				if u := &r.updates[i]; u.doc == d && u.part == p {
					if u.whole != nil {
						word = u.whole[index]
					} else if changed, ok := u.overlay[index]; ok {
						word = changed
					}
					break
				}
			}
			if p == alivePart {
				after.Alive |= word
			} else {
				after.Dead |= word
			}
		}
	}
	return before, after
}

// Changes returns the sequences whose state the read moves, with their new
// state, in increasing order.
func (r *Read) Changes() []SeqState { return r.changes }

// StateOf returns the state of seq as the read leaves the view.
func (r *Read) StateOf(seq int64) State {
	index := seq / layout.BitsPerField
	w, ok := r.after[index]
	if !ok {
		w = r.view.word(index)
	}
	return stateOf(w, uint64(1)<<uint(seq%layout.BitsPerField))
}

// Apply makes the read the view.
func (r *Read) Apply() {
	for _, u := range r.updates {
		pt := &u.doc.parts[u.part]
		if u.raw == nil {
			pt.raw = nil
		} else {
			pt.raw = append(pt.raw[:0], u.raw...)
		}
		pt.careful = u.careful
		if u.whole != nil {
			pt.words = u.whole
			continue
		}
		if pt.words == nil {
			pt.words = make(map[int64]uint64, len(u.changes))
		}
		for _, c := range u.changes {
			pt.words[c.Index] = c.Word // GrownPart reads no field of no bits
		}
	}
	r.view.docs = r.live
}

func hasSlot(docs []Doc, slot int64) bool {
	for _, d := range docs {
		if d.Slot == slot {
			return true
		}
	}
	return false
}

func (v *View) doc(slot int64) *docView {
	for _, d := range v.docs {
		if d.slot == slot {
			return d
		}
	}
	return nil
}

// update works out what raw, the part's new bytes, changes. It reports
// false when nothing does.
func (d *docView) update(p int, raw []byte, bad func(problem string)) (partUpdate, bool) {
	pt := &d.parts[p]
	if bytes.Equal(pt.raw, raw) && (raw == nil) == (pt.raw == nil) {
		return partUpdate{}, false
	}
	u := partUpdate{doc: d, part: p, raw: raw}
	if !pt.careful {
		if changes, ok := layout.GrownPart(pt.raw, raw, pt.words); ok {
			u.changes = changes
			return u, true
		}
	}
	// The part was rewritten rather than grown, or holds something odd:
	// decode it whole.
	u.whole = make(map[int64]uint64)
	if raw != nil {
		name := [2]string{"alive", "dead"}[p]
		u.careful = layout.DecodePart(raw, u.whole, func(problem string) { bad(name + "." + problem) })
	}
	for index, word := range pt.words {
		if u.whole[index] != word {
			u.changes = append(u.changes, layout.WordChange{Index: index, Word: u.whole[index]})
		}
	}
	return u, true
}
