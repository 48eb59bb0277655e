package liveness

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/presence-go/presence/internal/bitfield"
	"github.com/presence-go/presence/internal/bsonraw"
	"github.com/presence-go/presence/internal/layout"
	"github.com/presence-go/presence/internal/livestate"
)

// Slot and being documents arrive as raw BSON bytes from either driver and
// are decoded here, by hand, because anyone may have written them: what
// cannot be read is described and left out, and the rest is used.

// slotDoc is a slot document as read.
type slotDoc struct {
	id          string           // its _id, described for messages
	alive, dead map[int64]uint64 // field index → bits
}

// splitSlotDoc finds, in a slot document of modelUUID read for slot
// previous or current, its alive and dead parts, for the watcher's view to
// decode. id describes its _id for messages, and is empty when the
// document is neither of the two asked for; parts that are not documents
// are described in problems and left out.
func splitSlotDoc(doc []byte, modelUUID string, previous, current int64) (d livestate.Doc, id string, problems []string) {
	it := bsonraw.NewIter(doc)
	for it.Next() {
		e := it.Element()
		var dst *[]byte
		switch string(e.Name) {
		case "_id":
			s, _ := e.Str()
			switch s {
			case layout.DocID(modelUUID, previous):
				d.Slot = previous
			case layout.DocID(modelUUID, current):
				d.Slot = current
			default:
				return d, "", nil
			}
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

// decodeSlotDoc reads the alive and dead bits of a slot document. What
// cannot be read is described in problems and left out; the rest is
// returned. Well-formed parts, the usual case, take the fast path of
// walking their bytes once.
func decodeSlotDoc(doc []byte) (d slotDoc, problems []string) {
	d.alive = make(map[int64]uint64)
	d.dead = make(map[int64]uint64)
	it := bsonraw.NewIter(doc)
	for it.Next() {
		e := it.Element()
		var dst map[int64]uint64
		switch string(e.Name) {
		case "_id":
			d.id = describeID(e)
			continue
		case "alive":
			dst = d.alive
		case "dead":
			dst = d.dead
		default:
			continue
		}
		part := string(e.Name)
		switch e.Type {
		case bsonraw.TypeNull:
		case bsonraw.TypeDocument:
			if walkFields(e.Value, dst) {
				continue
			}
			clear(dst)
			readFields(e.Value, dst, func(problem string) {
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

// walkFields is the fast decoder of the alive or dead part of a slot
// document: it walks the raw BSON elements and sets each integer field
// into dst, which must start empty, under its index, with no string per
// field name. It reports false at the first thing it cannot read, leaving
// dst partly filled; the caller then starts again on the careful path,
// which says what is wrong.
func walkFields(part []byte, dst map[int64]uint64) bool {
	if len(part) < 5 || int(binary.LittleEndian.Uint32(part)) != len(part) || part[len(part)-1] != 0 {
		return false
	}
	data := part[4 : len(part)-1] // the length prefix and the trailing NUL
	for len(data) > 0 {
		kind := data[0]
		data = data[1:]
		end := 0
		for end < len(data) && data[end] != 0 {
			end++
		}
		if end == len(data) || end == 0 || end > 16 {
			return false
		}
		var index int64
		for _, c := range data[:end] {
			switch {
			case '0' <= c && c <= '9':
				index = index<<4 | int64(c-'0')
			case 'a' <= c && c <= 'f':
				index = index<<4 | int64(c-'a'+10)
			case 'A' <= c && c <= 'F':
				index = index<<4 | int64(c-'A'+10)
			default:
				return false
			}
		}
		if index < 0 || index > bitfield.MaxIndex {
			return false
		}
		data = data[end+1:]
		var word int64
		switch kind {
		case bsonraw.TypeInt32:
			if len(data) < 4 {
				return false
			}
			word = int64(int32(binary.LittleEndian.Uint32(data)))
			data = data[4:]
		case bsonraw.TypeInt64:
			if len(data) < 8 {
				return false
			}
			word = int64(binary.LittleEndian.Uint64(data))
			data = data[8:]
		default:
			return false
		}
		if _, dup := dst[index]; dup || word < 0 {
			// A repeated name is left to the careful decoder, which keeps
			// the last value as every BSON reader does.
			return false
		}
		dst[index] = uint64(word)
	}
	return true
}

// readFields is the careful decoder of the alive or dead part of a slot
// document: each field that can be read goes into dst, and each that
// cannot is passed to bad with the reason.
func readFields(part []byte, dst map[int64]uint64, bad func(problem string)) {
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
		dst[index] = uint64(n)
	}
	if err := it.Err(); err != nil {
		bad(err.Error())
	}
}

// decodeBeing reads a being document of modelUUID: its sequence and key,
// checked against its _id. id describes the _id for messages.
func decodeBeing(doc []byte, modelUUID string) (id string, seq int64, key string, err error) {
	var idElem, seqElem, keyElem bsonraw.Element
	var seen [3]bool
	it := bsonraw.NewIter(doc)
	for it.Next() {
		e := it.Element()
		switch string(e.Name) {
		case "_id":
			idElem, seen[0] = e, true
		case "seq":
			seqElem, seen[1] = e, true
		case "key":
			keyElem, seen[2] = e, true
		}
	}
	if seen[0] {
		id = describeID(idElem)
	}
	if err := it.Err(); err != nil {
		return id, 0, "", fmt.Errorf("malformed document: %w", err)
	}
	var ok bool
	switch {
	case !seen[1]:
		return id, 0, "", fmt.Errorf("no seq")
	case !seen[2]:
		return id, 0, "", fmt.Errorf("no key")
	}
	if seq, ok = seqElem.Int64(); !ok {
		return id, 0, "", fmt.Errorf("seq is %s, not an integer", seqElem.Describe())
	}
	if key, ok = keyElem.Str(); !ok {
		return id, 0, "", fmt.Errorf("key is %s, not a string", keyElem.Describe())
	}
	if got, _ := idElem.Str(); got != layout.DocID(modelUUID, seq) {
		return id, 0, "", fmt.Errorf("seq %d does not match _id", seq)
	}
	return id, seq, key, nil
}

// describeID renders a document _id for messages: a string quoted, any
// other value with its type.
func describeID(e bsonraw.Element) string {
	if s, ok := e.Str(); ok {
		return strconv.Quote(s)
	}
	return e.Describe()
}

// corruptLog says once of each corrupt document that its unreadable parts
// are skipped, however often its owner meets it. It belongs to one
// goroutine at a time: the watcher's loop, or the pruner's run.
type corruptLog struct {
	logger *slog.Logger
	model  string
	seen   map[string]bool // collection and _id of the documents logged
}

func newCorruptLog(logger *slog.Logger, modelUUID string) *corruptLog {
	return &corruptLog{logger: logger, model: modelUUID, seen: make(map[string]bool)}
}

// report logs the problems of the document id of collection, unless it
// was logged before.
func (c *corruptLog) report(collection, id string, problems []string) {
	name := collection + " " + id
	if c.seen[name] {
		return
	}
	c.seen[name] = true
	c.logger.Warn("presence: skipping corrupt parts of a document", "model", c.model, "document", name, "problems", problems)
}

// count returns how many corrupt documents were met.
func (c *corruptLog) count() int { return len(c.seen) }
