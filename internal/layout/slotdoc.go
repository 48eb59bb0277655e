package layout

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/presence-go/presence/internal/bsonraw"
)

// Slot and being documents arrive as raw BSON bytes from either driver and
// are decoded here, by hand, because anyone may have written them: what
// cannot be read is described and left out, and the rest is used.

// SlotParts is a slot document as read: its slot, and the bytes of its
// alive and dead parts (nil when absent or not a document).
type SlotParts struct {
	Slot        int64
	Alive, Dead []byte
}

// SplitSlotDoc finds, in a slot document of modelUUID read for one of
// slots, its alive and dead parts, for a reader that decodes them itself
// (livestate's View). id describes its _id for messages, and is empty
// when the document is none of those asked for; parts that are not
// documents are described in problems and left out.
func SplitSlotDoc(doc []byte, modelUUID string, slots []int64) (d SlotParts, id string, problems []string) {
	it := bsonraw.NewIter(doc)
	for it.Next() {
		e := it.Element()
		var dst *[]byte
		switch string(e.Name) {
		case "_id":
			s, _ := e.StrBytes()
			i := slices.IndexFunc(slots, func(n int64) bool { return isDocID(s, modelUUID, n) })
			if i < 0 {
				return d, "", nil
			}
			d.Slot = slots[i]
			id = describeID(e)
			continue
		case "alive":
			dst = &d.Alive
		case "dead":
			dst = &d.Dead
		default:
			continue
		}
		switch e.Type {
		case bsonraw.TypeNull:
		case bsonraw.TypeDocument:
			*dst = e.Value
		default:
			problems = append(problems, fmt.Sprintf("%s: not a document but %s", e.Name, bsonraw.TypeName(e.Type)))
		}
	}
	if err := it.Err(); err != nil {
		problems = append(problems, "malformed document: "+err.Error())
	}
	return d, id, problems
}

// SlotWords is a slot document decoded: its _id, described for messages,
// and the words of its alive and dead parts by field index.
type SlotWords struct {
	ID          string
	Alive, Dead map[int64]uint64
}

// DecodeSlotDoc reads the alive and dead bits of a slot document. What
// cannot be read is described in problems and left out; the rest is
// returned. Well-formed parts, the usual case, take the fast path of
// walking their bytes once.
func DecodeSlotDoc(doc []byte) (d SlotWords, problems []string) {
	d.Alive = make(map[int64]uint64)
	d.Dead = make(map[int64]uint64)
	it := bsonraw.NewIter(doc)
	for it.Next() {
		e := it.Element()
		var dst map[int64]uint64
		switch string(e.Name) {
		case "_id":
			d.ID = describeID(e)
			continue
		case "alive":
			dst = d.Alive
		case "dead":
			dst = d.Dead
		default:
			continue
		}
		part := string(e.Name)
		switch e.Type {
		case bsonraw.TypeNull:
		case bsonraw.TypeDocument:
			DecodePart(e.Value, dst, func(problem string) {
				problems = append(problems, part+"."+problem)
			})
		default:
			problems = append(problems, fmt.Sprintf("%s: not a document but %s", part, bsonraw.TypeName(e.Type)))
		}
	}
	if err := it.Err(); err != nil {
		problems = append(problems, "malformed document: "+err.Error())
	}
	return d, problems
}

// isDocID reports whether id is DocID(modelUUID, n), without building
// that string.
func isDocID(id []byte, modelUUID string, n int64) bool {
	if len(id) <= len(modelUUID) || string(id[:len(modelUUID)]) != modelUUID || id[len(modelUUID)] != ':' {
		return false
	}
	var digits [20]byte
	return string(id[len(modelUUID)+1:]) == string(strconv.AppendInt(digits[:0], n, 10))
}

// describeID renders a document _id for messages: a string quoted, any
// other value with its type.
func describeID(e bsonraw.Element) string {
	if s, ok := e.Str(); ok {
		return strconv.Quote(s)
	}
	return e.Describe()
}
