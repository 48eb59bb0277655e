package liveness

import (
	"fmt"
	"log/slog"
	"slices"
	"strconv"

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

// splitSlotDoc finds, in a slot document of modelUUID read for one of
// slots, its alive and dead parts, for the watcher's view to decode. id
// describes its _id for messages, and is empty when the document is none
// of those asked for; parts that are not documents are described in
// problems and left out.
func splitSlotDoc(doc []byte, modelUUID string, slots []int64) (d livestate.Doc, id string, problems []string) {
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
			layout.DecodePart(e.Value, dst, func(problem string) {
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

// decodeBeing reads a being document of modelUUID: its sequence and key,
// checked against its _id. When wanted says a sequence is of no interest,
// its key is left out and no string is made for it: a cold start reads
// every being of a large model. id describes the _id of a corrupt being
// for messages; it is only rendered with an error.
func decodeBeing(doc []byte, modelUUID string, wanted func(seq int64) bool) (id string, seq int64, key string, err error) {
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
	fail := func(err error) (string, int64, string, error) {
		if seen[0] {
			return describeID(idElem), 0, "", err
		}
		return "", 0, "", err
	}
	if err := it.Err(); err != nil {
		return fail(fmt.Errorf("malformed document: %w", err))
	}
	var ok bool
	switch {
	case !seen[1]:
		return fail(fmt.Errorf("no seq"))
	case !seen[2]:
		return fail(fmt.Errorf("no key"))
	}
	if seq, ok = seqElem.Int64(); !ok {
		return fail(fmt.Errorf("seq is %s, not an integer", seqElem.Describe()))
	}
	if keyElem.Type != bsonraw.TypeString {
		return fail(fmt.Errorf("key is %s, not a string", keyElem.Describe()))
	}
	if got, _ := idElem.StrBytes(); !isDocID(got, modelUUID, seq) {
		return fail(fmt.Errorf("seq %d does not match _id", seq))
	}
	if wanted != nil && !wanted(seq) {
		return "", seq, "", nil
	}
	key, _ = keyElem.Str()
	return "", seq, key, nil
}

// isDocID reports whether id is layout.DocID(modelUUID, seq), without
// building that string.
func isDocID(id []byte, modelUUID string, seq int64) bool {
	if len(id) <= len(modelUUID) || string(id[:len(modelUUID)]) != modelUUID || id[len(modelUUID)] != ':' {
		return false
	}
	var digits [20]byte
	return string(id[len(modelUUID)+1:]) == string(strconv.AppendInt(digits[:0], seq, 10))
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
	// total counts the corrupt documents met, including those seen has
	// forgotten.
	total int
}

// corruptRemembered is how many corrupt documents a log remembers: a
// writer that spoils every slot document would otherwise make it grow for
// ever. Past it, the log starts afresh, and may say again what it said.
const corruptRemembered = 10000

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
	if len(c.seen) >= corruptRemembered {
		clear(c.seen)
	}
	c.seen[name] = true
	c.total++
	c.logger.Warn("presence: skipping corrupt parts of a document", "model", c.model, "document", name, "problems", problems)
}

// count returns how many corrupt documents were met.
func (c *corruptLog) count() int { return c.total }
