package layout

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/presence-go/presence/internal/bsonraw"
	"github.com/presence-go/presence/internal/mutate"
)

// How the alive or dead part of a slot document is read: whole, fast when
// a batcher wrote it and field by field otherwise, or, for a reader that
// keeps the bytes it read last (livestate's View), by comparing it element
// by element with them.

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
	DecodePartCarefully(part, dst, bad)
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
		if f.word != 0 { // only under the mutation test's ShadowedField
			dst[f.index] = f.word
		}
		rest = next
	}
	return true
}

// DecodePartCarefully reads every field of a part it can into dst, field
// by field, and passes each it cannot to bad with the reason. A repeated
// name keeps its last value, as every BSON reader does. It is what the
// fast paths are held to: where one accepts a part, it reads the same.
func DecodePartCarefully(part []byte, dst map[int64]uint64, bad func(problem string)) {
	it := bsonraw.NewIter(part)
	for it.Next() {
		e := it.Element()
		index, err := ParseFieldKey(string(e.Name))
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

// WordChange is a field whose word a read changed.
type WordChange struct {
	Index int64
	Word  uint64
}

// GrownPart compares now, the bytes of a part, with old, those it had,
// whose words by field index are words, element by element: elements with
// the same name and type whose value differs are changed words, and
// elements after the old ones are new words. It reports false when the
// part is not the old one grown that way (an element renamed, removed or
// moved), or holds anything the careful decoder would question, and the
// caller then decodes it whole.
func GrownPart(old, now []byte, words map[int64]uint64) ([]WordChange, bool) {
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
	var changes []WordChange
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
			changes = append(changes, WordChange{e.index, e.word})
			continue
		}
		if _, dup := words[e.index]; dup {
			return nil, false // a repeated name: the careful decoder settles it
		}
		if e.index <= lastAdded {
			if added == nil {
				added = make(map[int64]bool)
				for _, c := range changes {
					added[c.Index] = true
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
		changes = append(changes, WordChange{e.index, e.word})
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
// batcher writes: a hexadecimal name of at most 16 digits (upper-case ones
// too, as the careful decoder takes them) naming an index whose sequences
// fit in an int64, and a positive int32 or int64.
//
// A field of no bits is refused, though a careful decode reads it well:
// no batcher writes one (it ORs bits into a field, creating it with
// them), and the fast paths see that a part names an index twice only by
// finding the index in the part's words, where a field of no bits leaves
// none. Accepting {"000": 0, "0": 4} would let GrownPart, once "000" gains
// bits, take them for field 0's word, where every BSON reader keeps the
// last value. With every accepted field leaving a word, a repeated index
// is always seen.
func nextField(data []byte) (field, []byte, bool) {
	var f field
	f.typ = data[0]
	data = data[1:]
	end := bytes.IndexByte(data, 0)
	if end < 0 {
		return f, nil, false
	}
	f.name = data[:end]
	index, fault := ParseField(f.name, UpperCase)
	if fault != FieldOK {
		return f, nil, false
	}
	f.index = index
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
	if n < 0 || (n == 0 && !(mutate.Enabled && mutate.Active(mutate.ShadowedField))) {
		return f, nil, false
	}
	f.word = uint64(n)
	return f, data, true
}
