package main

import (
	"fmt"
	"sort"
	"strconv"

	"github.com/juju/mgo/v2"
	"github.com/juju/mgo/v2/bson"

	"github.com/presence-go/presence/internal/bitfield"
	"github.com/presence-go/presence/internal/livestate"
)

// slotBits holds the decoded bits of one slot document: field index to
// the 63-bit word of sequences, for the alive and the dead part.
type slotBits struct {
	slot  int64
	alive map[int64]uint64
	dead  map[int64]uint64
}

func newSlotBits(slot int64) slotBits {
	return slotBits{slot: slot, alive: map[int64]uint64{}, dead: map[int64]uint64{}}
}

func (b slotBits) has(part map[int64]uint64, seq int64) bool {
	word := part[seq/bitfield.BitsPerField]
	return word&(1<<uint(seq%bitfield.BitsPerField)) != 0
}

// seqs returns every sequence with an alive or a dead bit in b.
func (b slotBits) seqs(into map[int64]bool) {
	for _, part := range []map[int64]uint64{b.alive, b.dead} {
		for index, word := range part {
			bitfield.EachSeq(index, word, func(seq int64) { into[seq] = true })
		}
	}
}

// aliveKey is one key alive now, as status prints it.
type aliveKey struct {
	Key      string `json:"key"`
	Seq      int64  `json:"seq"`
	LastSlot int64  `json:"last_slot"`
}

// aliveKeys applies the library's rule to the two live slots, through the
// tracker the watcher uses: a key is alive when the newest of its sequences
// seen in them has pinged and was not killed. keyOf maps sequences to keys;
// unknown sequences are ignored.
func aliveKeys(previous, current slotBits, keyOf map[int64]string) []aliveKey {
	stateOf := func(seq int64) livestate.State {
		var st livestate.State
		if previous.has(previous.alive, seq) || current.has(current.alive, seq) {
			st |= livestate.Alive
		}
		if previous.has(previous.dead, seq) || current.has(current.dead, seq) {
			st |= livestate.Dead
		}
		return st
	}
	tracker := livestate.NewTracker()
	for seq, key := range keyOf {
		tracker.Set(seq, key, stateOf(seq))
	}
	var alive []aliveKey
	tracker.EachAlive(func(key string) {
		seq, _ := tracker.Seq(key)
		last := previous.slot
		if current.has(current.alive, seq) {
			last = current.slot
		}
		alive = append(alive, aliveKey{key, seq, last})
	})
	sort.Slice(alive, func(i, j int) bool { return alive[i].Key < alive[j].Key })
	return alive
}

// slotID is the _id of a model's slot document, or of a being.
func slotID(model string, n int64) string {
	return model + ":" + strconv.FormatInt(n, 10)
}

// pingDoc is a slot document as stored.
type pingDoc struct {
	ID    string                 `bson:"_id"`
	Slot  int64                  `bson:"slot"`
	Alive map[string]interface{} `bson:"alive"`
	Dead  map[string]interface{} `bson:"dead"`
}

// readSlots reads the slot documents of model from oldest on and decodes
// them; slots with no document come back empty.
func readSlots(pings *mgo.Collection, model string, slots ...int64) ([]slotBits, error) {
	ids := make([]string, len(slots))
	out := make([]slotBits, len(slots))
	for i, s := range slots {
		ids[i] = slotID(model, s)
		out[i] = newSlotBits(s)
	}
	var docs []pingDoc
	if err := pings.Find(bson.M{"_id": bson.M{"$in": ids}}).All(&docs); err != nil {
		return nil, fmt.Errorf("cannot read %s: %v", pings.FullName, err)
	}
	for _, doc := range docs {
		for i := range out {
			if doc.ID == ids[i] {
				decodeInto(doc, out[i])
			}
		}
	}
	return out, nil
}

// decodeInto ORs the bits of doc into b; fields that are not bit words are
// skipped, as the library's watcher skips them.
func decodeInto(doc pingDoc, b slotBits) {
	ignore := func(string, error) {}
	bitfield.Decode(doc.Alive, b.alive, ignore)
	bitfield.Decode(doc.Dead, b.dead, ignore)
}

// beingDoc maps a sequence to its key.
type beingDoc struct {
	Seq int64  `bson:"seq"`
	Key string `bson:"key"`
}

// keysOf looks up the keys of seqs in the beings collection.
func keysOf(beings *mgo.Collection, model string, seqs map[int64]bool) (map[int64]string, error) {
	keyOf := make(map[int64]string, len(seqs))
	ids := make([]string, 0, len(seqs))
	for seq := range seqs {
		ids = append(ids, slotID(model, seq))
	}
	const batch = 500
	for start := 0; start < len(ids); start += batch {
		var docs []beingDoc
		query := bson.M{"_id": bson.M{"$in": ids[start:min(start+batch, len(ids))]}}
		if err := beings.Find(query).All(&docs); err != nil {
			return nil, fmt.Errorf("cannot read %s: %v", beings.FullName, err)
		}
		for _, doc := range docs {
			keyOf[doc.Seq] = doc.Key
		}
	}
	return keyOf, nil
}
