package livestate

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/presence-go/presence/internal/bitfield"
	"github.com/presence-go/presence/internal/bsonraw"
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

// Doc is one slot document as read: its slot, and the bytes of its alive
// and dead parts (nil when absent or not a document).
type Doc struct {
	Slot        int64
	Alive, Dead []byte
}

type docView struct {
	slot  int64
	parts [2]part // alive, dead
}

type part struct {
	raw   []byte           // the part's bytes as last read; nil when absent
	words map[int64]uint64 // field index → bits, as decoded from raw
	// careful is set when raw had to be decoded whole, field by field:
	// its elements then cannot be compared one by one with the next read.
	// While it is clear, raw is as the fast path accepts it, and words
	// holds one entry for each of raw's elements, which grown relies on.
	careful bool
}

const (
	alivePart = 0
	deadPart  = 1
)

// wordChange is a field whose word a read changed.
type wordChange struct {
	index int64
	word  uint64
}

// partUpdate is what a read brings to one part: the new bytes and the
// words that changed, or, when the part had to be decoded afresh, its
// words whole.
type partUpdate struct {
	doc     *docView
	part    int
	raw     []byte
	changes []wordChange
	overlay map[int64]uint64 // changes by index
	whole   map[int64]uint64 // non-nil: replaces the part's words
	careful bool             // whole had to be decoded field by field
}

// StateOf returns the state of seq in the view.
func (v *View) StateOf(seq int64) State {
	index := seq / bitfield.BitsPerField
	return stateOf(v.word(index), uint64(1)<<uint(seq%bitfield.BitsPerField))
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
				r.after[c.index] = Word{}
			}
			continue
		}
		u.overlay = make(map[int64]uint64, len(u.changes))
		for _, c := range u.changes {
			u.overlay[c.index] = c.word
			r.after[c.index] = Word{}
		}
	}
	for index := range r.after {
		old, now := r.words(index)
		r.after[index] = now
		if diff := (old.Alive ^ now.Alive) | (old.Dead ^ now.Dead); diff != 0 {
			bitfield.EachSeq(index, diff, func(seq int64) {
				r.changes = append(r.changes, SeqState{seq, stateOf(now, uint64(1)<<uint(seq-index*bitfield.BitsPerField))})
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
	index := seq / bitfield.BitsPerField
	w, ok := r.after[index]
	if !ok {
		w = r.view.word(index)
	}
	return stateOf(w, uint64(1)<<uint(seq%bitfield.BitsPerField))
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
			pt.words[c.index] = c.word // grown reads no field of no bits
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
		if changes, ok := grown(pt.raw, raw, pt.words); ok {
			u.changes = changes
			return u, true
		}
	}
	// The part was rewritten rather than grown, or holds something odd:
	// decode it whole.
	u.whole = make(map[int64]uint64)
	if raw != nil {
		name := [2]string{"alive", "dead"}[p]
		u.careful = DecodePart(raw, u.whole, func(problem string) { bad(name + "." + problem) })
	}
	for index, word := range pt.words {
		if u.whole[index] != word {
			u.changes = append(u.changes, wordChange{index, u.whole[index]})
		}
	}
	return u, true
}

// grown compares the bytes of a part with those it had, element by
// element: elements with the same name and type whose value differs are
// changed words, and elements after the old ones are new words. It
// reports false when the part is not the old one grown that way (an
// element renamed, removed or moved), or holds anything the careful
// decoder would question, and the caller then decodes it whole.
func grown(old, now []byte, words map[int64]uint64) ([]wordChange, bool) {
	if now == nil {
		return nil, old == nil
	}
	newRest, ok := elements(now)
	if !ok {
		return nil, false
	}
	oldRest, ok := elements(old)
	if old != nil && !ok {
		return nil, false
	}
	var changes []wordChange
	lastAdded := int64(-1)
	var added map[int64]bool // needed only when added fields come out of order
	for len(newRest) > 0 {
		e, rest, ok := nextField(newRest)
		if !ok {
			return nil, false
		}
		newRest = rest
		if len(oldRest) > 0 {
			o, orest, ok := nextField(oldRest)
			if !ok || !bytes.Equal(o.name, e.name) {
				return nil, false
			}
			oldRest = orest
			if o.typ == e.typ && bytes.Equal(o.value, e.value) {
				continue
			}
			changes = append(changes, wordChange{e.index, e.word})
			continue
		}
		if _, dup := words[e.index]; dup {
			return nil, false // a repeated name: the careful decoder settles it
		}
		if e.index <= lastAdded {
			if added == nil {
				added = make(map[int64]bool)
				for _, c := range changes {
					added[c.index] = true
				}
			}
			if added[e.index] {
				return nil, false
			}
		}
		if added != nil {
			added[e.index] = true
		}
		lastAdded = max(lastAdded, e.index)
		changes = append(changes, wordChange{e.index, e.word})
	}
	if len(oldRest) > 0 {
		return nil, false
	}
	return changes, true
}

// elements returns the bytes of a part's elements, without its length
// prefix and final NUL, if they are framed right.
func elements(part []byte) ([]byte, bool) {
	if len(part) < 5 || int(binary.LittleEndian.Uint32(part)) != len(part) || part[len(part)-1] != 0 {
		return nil, false
	}
	return part[4 : len(part)-1], true
}

// field is one element of a part, read by the fast path.
type field struct {
	typ   byte
	name  []byte
	value []byte
	index int64
	word  uint64
}

// nextField reads the element at the start of data, accepting only what a
// batcher writes: a hexadecimal name of at most 16 digits naming an index
// whose sequences fit in an int64, and a positive int32 or int64.
//
// A field of no bits is refused, though a careful decode reads it well:
// no batcher writes one (it ORs bits into a field, creating it with
// them), and the fast paths see that a part names an index twice only by
// finding the index in the part's words, where a field of no bits leaves
// none. Accepting {"000": 0, "0": 4} would let grown, once "000" gains
// bits, take them for field 0's word, where every BSON reader keeps the
// last value. With every accepted field leaving a word, a repeated index
// is always seen.
func nextField(data []byte) (field, []byte, bool) {
	var f field
	f.typ = data[0]
	data = data[1:]
	end := bytes.IndexByte(data, 0)
	if end <= 0 || end > 16 {
		return f, nil, false
	}
	f.name = data[:end]
	for _, c := range f.name {
		switch {
		case '0' <= c && c <= '9':
			f.index = f.index<<4 | int64(c-'0')
		case 'a' <= c && c <= 'f':
			f.index = f.index<<4 | int64(c-'a'+10)
		case 'A' <= c && c <= 'F':
			f.index = f.index<<4 | int64(c-'A'+10)
		default:
			return f, nil, false
		}
	}
	if f.index < 0 || f.index > bitfield.MaxIndex {
		return f, nil, false
	}
	data = data[end+1:]
	var n int64
	switch f.typ {
	case bsonraw.TypeInt32:
		if len(data) < 4 {
			return f, nil, false
		}
		f.value, data = data[:4], data[4:]
		n = int64(int32(binary.LittleEndian.Uint32(f.value)))
	case bsonraw.TypeInt64:
		if len(data) < 8 {
			return f, nil, false
		}
		f.value, data = data[:8], data[8:]
		n = int64(binary.LittleEndian.Uint64(f.value))
	default:
		return f, nil, false
	}
	if n <= 0 {
		return f, nil, false
	}
	f.word = uint64(n)
	return f, data, true
}

// DecodePart reads the alive or dead part of a slot document into dst,
// which must start empty: field index → bits, fields of no bits left out.
// What a batcher writes takes a fast path, one pass over the bytes with no
// string per field; anything else (a repeated index, a field of no bits, a
// field that cannot be read) is decoded field by field, each field that
// cannot be read passed to bad with the reason and left out. It reports
// whether it had to.
func DecodePart(part []byte, dst map[int64]uint64, bad func(problem string)) (careful bool) {
	if decodeFast(part, dst) {
		return false
	}
	clear(dst)
	decodeCarefully(part, dst, bad)
	return true
}

// decodeFast reads a part as a batcher writes it; it reports false, with
// dst partly filled, at the first thing it would question.
func decodeFast(part []byte, dst map[int64]uint64) bool {
	rest, ok := elements(part)
	if !ok {
		return false
	}
	for len(rest) > 0 {
		f, next, ok := nextField(rest)
		if !ok {
			return false
		}
		if _, dup := dst[f.index]; dup {
			return false
		}
		dst[f.index] = f.word
		rest = next
	}
	return true
}

// decodeCarefully reads every field of a part it can into dst, and passes
// each it cannot to bad with the reason. A repeated name keeps its last
// value, as every BSON reader does.
func decodeCarefully(part []byte, dst map[int64]uint64, bad func(problem string)) {
	it := bsonraw.NewIter(part)
	for it.Next() {
		e := it.Element()
		index, err := bitfield.ParseFieldKey(string(e.Name))
		if err != nil {
			bad(err.Error())
			continue
		}
		n, ok := e.Int64()
		if !ok || n < 0 {
			bad(fmt.Sprintf("field %q: value %s is not a non-negative integer", e.Name, e.Describe()))
			continue
		}
		if n == 0 {
			delete(dst, index)
			continue
		}
		dst[index] = uint64(n)
	}
	if err := it.Err(); err != nil {
		bad(err.Error())
	}
}
