package benchsuite

import (
	"fmt"
	"strconv"

	"github.com/juju/mgo/v2"
	"github.com/juju/mgo/v2/bson"

	"github.com/presence-go/presence/internal/layout"
	"github.com/presence-go/presence/internal/slot"
)

// jujuWatcher is a sketch of the watcher algorithm Juju's state/presence
// used in 2019, written here from its description (not from its code,
// which is AGPL): at each sync it reads the two live slot documents and
// decodes them into maps of field name → int64; every alive bit of a
// sequence it has no key for is collected as unknown, and the unknown
// sequences are looked up in the beings collection by _id $in, a batch at
// a time; it keeps beingKey (seq → key) and beingSeq (key → its newest
// seq); a sequence with a dead bit, or with no bit any more, loses its
// key. A key is alive while beingSeq holds it. The sketch keeps what the
// algorithm keeps between syncs, and nothing to notify watchers, which
// the comparison leaves out on both sides.
//
// It is measured against the library's watcher on the same server and
// data (BenchmarkJujuColdStart) and with the database taken out
// (BenchmarkVersusJuju); it exists only in benchmark code.
type jujuWatcher struct {
	db       jujuDB
	model    string
	beingKey map[int64]string
	beingSeq map[string]int64
}

// jujuDB is what the sketch reads: raw documents, which it decodes itself
// as Juju's watcher had its driver do.
type jujuDB interface {
	slotDocs(ids []string) ([][]byte, error)
	beingsByID(ids []string, fn func(doc []byte)) error
}

// jujuLookupBatch is how many sequences one lookup asks for.
const jujuLookupBatch = 1000

func newJujuWatcher(db jujuDB, model string) *jujuWatcher {
	return &jujuWatcher{db: db, model: model, beingKey: map[int64]string{}, beingSeq: map[string]int64{}}
}

// jujuPings is a slot document as the sketch decodes it.
type jujuPings struct {
	Alive map[string]int64 `bson:"alive"`
	Dead  map[string]int64 `bson:"dead"`
}

// jujuBeing is a being document as the sketch decodes it.
type jujuBeing struct {
	Seq int64  `bson:"seq"`
	Key string `bson:"key"`
}

// sync reads the live slots of the slot current and brings the maps up
// to date.
func (w *jujuWatcher) sync(current int64) error {
	previous := current - slot.Seconds(benchPeriod)
	raws, err := w.db.slotDocs([]string{layout.DocID(w.model, previous), layout.DocID(w.model, current)})
	if err != nil {
		return err
	}
	docs := make([]jujuPings, len(raws))
	for i, raw := range raws {
		if err := bson.Unmarshal(raw, &docs[i]); err != nil {
			return err
		}
	}
	dead := map[int64]bool{}
	for _, doc := range docs {
		if err := eachSeq(doc.Dead, func(seq int64) { dead[seq] = true }); err != nil {
			return err
		}
	}
	alive := map[int64]bool{}
	var unknown []int64
	for _, doc := range docs {
		err := eachSeq(doc.Alive, func(seq int64) {
			if alive[seq] || dead[seq] {
				return
			}
			alive[seq] = true
			if _, known := w.beingKey[seq]; !known {
				unknown = append(unknown, seq)
			}
		})
		if err != nil {
			return err
		}
	}
	for start := 0; start < len(unknown); start += jujuLookupBatch {
		batch := unknown[start:min(start+jujuLookupBatch, len(unknown))]
		ids := make([]string, len(batch))
		for i, seq := range batch {
			ids[i] = layout.DocID(w.model, seq)
		}
		err := w.db.beingsByID(ids, func(raw []byte) {
			var being jujuBeing
			if bson.Unmarshal(raw, &being) != nil {
				return
			}
			w.beingKey[being.Seq] = being.Key
			if newest, ok := w.beingSeq[being.Key]; !ok || newest < being.Seq {
				w.beingSeq[being.Key] = being.Seq
			}
		})
		if err != nil {
			return err
		}
	}
	for seq, key := range w.beingKey {
		if alive[seq] {
			continue
		}
		delete(w.beingKey, seq)
		if w.beingSeq[key] == seq {
			delete(w.beingSeq, key)
		}
	}
	return nil
}

// alive reports whether key is alive.
func (w *jujuWatcher) alive(key string) bool {
	_, ok := w.beingSeq[key]
	return ok
}

// eachSeq calls fn with every sequence whose bit is set in fields.
func eachSeq(fields map[string]int64, fn func(seq int64)) error {
	for name, bits := range fields {
		index, err := strconv.ParseInt(name, 16, 64)
		if err != nil {
			return fmt.Errorf("field %q: %v", name, err)
		}
		for bit := int64(0); bits != 0; bit, bits = bit+1, bits>>1 {
			if bits&1 != 0 {
				fn(index*63 + bit)
			}
		}
	}
	return nil
}

// mgoJujuDB serves the sketch from a database through mgo, the driver
// Juju's watcher used.
type mgoJujuDB struct {
	pings, beings *mgo.Collection
}

func newMgoJujuDB(d *database) mgoJujuDB {
	return mgoJujuDB{pings: d.mgo.C("presence.pings"), beings: d.mgo.C("presence.beings")}
}

func (m mgoJujuDB) slotDocs(ids []string) ([][]byte, error) {
	var docs [][]byte
	err := m.each(m.pings, ids, func(doc []byte) { docs = append(docs, doc) })
	return docs, err
}

func (m mgoJujuDB) beingsByID(ids []string, fn func([]byte)) error {
	return m.each(m.beings, ids, fn)
}

func (m mgoJujuDB) each(c *mgo.Collection, ids []string, fn func([]byte)) error {
	iter := c.Find(bson.D{{Name: "_id", Value: bson.D{{Name: "$in", Value: ids}}}}).Iter()
	var raw bson.Raw
	for iter.Next(&raw) {
		fn(raw.Data)
		raw = bson.Raw{}
	}
	return iter.Close()
}
