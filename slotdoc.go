package presence

import (
	"log/slog"

	"github.com/juju/errors"
	"github.com/juju/mgo/v2/bson"

	"github.com/presence-go/presence/internal/bitfield"
)

// pingDoc is a slot document as read; fields are checked by hand because
// they may have been written by anyone.
type pingDoc struct {
	ID    interface{} `bson:"_id"`
	Alive bson.Raw    `bson:"alive"`
	Dead  bson.Raw    `bson:"dead"`
}

// decodePingDoc reads the alive and dead bits of a slot document written by
// anyone. What cannot be read is described in problems and left out; the
// rest is returned. Well-formed documents, the usual case, take the fast
// path of walking their raw bytes.
func decodePingDoc(doc *pingDoc) (alive, dead map[int64]uint64, problems []string) {
	alive = make(map[int64]uint64)
	dead = make(map[int64]uint64)
	if walkFields(doc.Alive, alive) && walkFields(doc.Dead, dead) {
		return alive, dead, nil
	}
	clear(alive)
	clear(dead)
	for _, part := range []struct {
		name string
		raw  bson.Raw
		dst  map[int64]uint64
	}{{"alive", doc.Alive, alive}, {"dead", doc.Dead, dead}} {
		fields, err := rawFields(part.raw)
		if err != nil {
			problems = append(problems, part.name+": "+err.Error())
			continue
		}
		bitfield.Decode(fields, part.dst, func(fieldKey string, err error) {
			problems = append(problems, part.name+"."+err.Error())
		})
	}
	return alive, dead, problems
}

// walkFields is the fast decoder of the alive or dead part of a slot
// document: it walks the raw BSON elements and ORs each integer field into
// dst, which must start empty, under its index, with no map of interface
// values and no string per field name. It reports false at the first thing
// it cannot read, leaving dst partly filled; the caller then starts again
// on the careful path, which says what is wrong.
func walkFields(raw bson.Raw, dst map[int64]uint64) bool {
	if raw.Kind == 0 || raw.Kind == 0x0A {
		return true
	}
	data := raw.Data
	if raw.Kind != 0x03 || len(data) < 5 {
		return false
	}
	data = data[4 : len(data)-1] // the length prefix and the trailing NUL
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
		if index < 0 || index > (1<<63-1-(bitfield.BitsPerField-1))/bitfield.BitsPerField {
			return false
		}
		data = data[end+1:]
		var word int64
		switch kind {
		case 0x10: // int32
			if len(data) < 4 {
				return false
			}
			word = int64(int32(uint32(data[0]) | uint32(data[1])<<8 | uint32(data[2])<<16 | uint32(data[3])<<24))
			data = data[4:]
		case 0x12: // int64
			if len(data) < 8 {
				return false
			}
			var u uint64
			for i := 7; i >= 0; i-- {
				u = u<<8 | uint64(data[i])
			}
			word = int64(u)
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

// rawFields decodes a sub-document; an absent one is empty.
func rawFields(raw bson.Raw) (map[string]interface{}, error) {
	if raw.Kind == 0 || raw.Kind == 0x0A { // absent or null
		return nil, nil
	}
	if raw.Kind != 0x03 {
		return nil, errors.Errorf("not a document (BSON kind %#x)", raw.Kind)
	}
	var fields bson.M
	if err := raw.Unmarshal(&fields); err != nil {
		return nil, err
	}
	return fields, nil
}

// decodeBeing checks a being document written by anyone.
func decodeBeing(doc bson.M) (int64, string, error) {
	var seq int64
	switch v := doc["seq"].(type) {
	case int64:
		seq = v
	case int:
		seq = int64(v)
	default:
		return 0, "", errors.Errorf("seq is %T, not an integer", doc["seq"])
	}
	key, ok := doc["key"].(string)
	if !ok {
		return 0, "", errors.Errorf("key is %T, not a string", doc["key"])
	}
	return seq, key, nil
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
func (c *corruptLog) report(collection string, id interface{}, problems []string) {
	name := collection + " " + describeID(id)
	if c.seen[name] {
		return
	}
	c.seen[name] = true
	c.logger.Warn("presence: skipping corrupt parts of a document", "model", c.model, "document", name, "problems", problems)
}

// count returns how many corrupt documents were met.
func (c *corruptLog) count() int { return len(c.seen) }
