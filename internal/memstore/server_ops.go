package memstore

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/presence-go/presence/internal/layout"
	"github.com/presence-go/presence/liveness"
)

// This file is the server's side of each operation: what it does to the
// documents, under the server's lock, and the event it tells observers.
// The Store's side (faults, waits, messages) is in store.go.

// serverTime reads the server's clock.
func (s *Server) serverTime(store string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowLocked()
	s.emitLocked(Event{Store: store, Op: OpServerTime})
	return now
}

// nextSeq increments the model's sequence counter, creating it at 1, and
// returns its new value.
func (s *Server) nextSeq(store, modelUUID string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seqs := s.colls[Seqs]
	id := layout.SeqsID(modelUUID)
	old, _ := seqs.get(id)
	doc, seq, err := incSeq(old, id)
	if err == nil {
		seqs.put(id, doc)
	}
	s.emitLocked(Event{Store: store, Op: OpNextSeq, ModelUUID: modelUUID, Seq: seq, Doc: doc, Err: err})
	return seq, err
}

// insertBeing inserts the being of seq, unless its _id exists.
func (s *Server) insertBeing(store, modelUUID string, seq int64, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	beings := s.colls[Beings]
	id := layout.DocID(modelUUID, seq)
	var doc []byte
	var err error
	if _, exists := beings.get(id); exists {
		err = fmt.Errorf("%w collection: %s index: _id_ dup key: { _id: %s }", ErrDuplicateKey, s.names.Beings, strconv.Quote(id))
	} else {
		doc = beingDoc(id, seq, key)
		beings.put(id, doc)
	}
	s.emitLocked(Event{Store: store, Op: OpInsertBeing, ModelUUID: modelUUID, Seq: seq, Key: key, Doc: doc, Err: err})
	return err
}

// writeSlot applies one upsert of a WriteSlots bulk to its document.
func (s *Server) writeSlot(store string, w liveness.SlotWrite) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	pings := s.colls[Pings]
	id := layout.DocID(w.ModelUUID, w.Slot)
	old, _ := pings.get(id)
	doc, err := orSlot(old, id, w)
	if err == nil {
		pings.put(id, doc)
	} else {
		err = fmt.Errorf("_id %s: %w", strconv.Quote(id), err)
	}
	if s.observedLocked() {
		s.emitLocked(Event{Store: store, Op: OpWriteSlots, ModelUUID: w.ModelUUID, Slot: w.Slot,
			Alive: slices.Clone(w.Alive), Dead: slices.Clone(w.Dead), Doc: doc, Err: err})
	}
	return err
}

// readSlots returns copies of the model's slot documents of slots that
// exist, in the order of their _id.
func (s *Server) readSlots(store, modelUUID string, slots []int64) [][]byte {
	ids := make([]string, len(slots))
	for i, n := range slots {
		ids[i] = layout.DocID(modelUUID, n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	docs := s.byIDLocked(Pings, ids)
	for i, doc := range docs {
		docs[i] = clone(doc)
	}
	s.emitLocked(Event{Store: store, Op: OpReadSlots, ModelUUID: modelUUID, Docs: docs})
	return docs
}

// readSlotsOfModels returns copies of the slot documents of slots of
// each of the models that exist, in the order of their _id.
func (s *Server) readSlotsOfModels(store string, modelUUIDs []string, slots []int64) [][]byte {
	ids := make([]string, 0, len(modelUUIDs)*len(slots))
	for _, model := range modelUUIDs {
		for _, n := range slots {
			ids = append(ids, layout.DocID(model, n))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	docs := s.byIDLocked(Pings, ids)
	for i, doc := range docs {
		docs[i] = clone(doc)
	}
	s.emitLocked(Event{Store: store, Op: OpReadSlotsOfModels, Models: modelUUIDs, Docs: docs})
	return docs
}

// slotsFrom returns copies of the model's slot documents whose slot field
// is at least from, in the order of their _id.
func (s *Server) slotsFrom(store, modelUUID string, from int64) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	var docs [][]byte
	s.eachOfModelLocked(Pings, modelUUID, func(_ string, doc []byte) {
		if slotFrom(doc, from) {
			docs = append(docs, clone(doc))
		}
	})
	s.emitLocked(Event{Store: store, Op: OpSlotsFrom, ModelUUID: modelUUID, Docs: docs})
	return docs
}

// beingsOf returns the model's being documents of seqs that exist,
// projected onto _id, seq and key, in the order of their _id. They are
// the server's own bytes: the caller must not modify them.
func (s *Server) beingsOf(store, modelUUID string, seqs []int64) [][]byte {
	ids := make([]string, len(seqs))
	for i, n := range seqs {
		ids[i] = layout.DocID(modelUUID, n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	docs := s.byIDLocked(Beings, ids)
	for i, doc := range docs {
		docs[i] = projectBeing(doc)
	}
	s.emitLocked(Event{Store: store, Op: OpBeingsOf, ModelUUID: modelUUID, Docs: docs})
	return docs
}

// beingsOfModels returns the being documents of seqs that exist,
// projected onto _id, seq and key, in the order of their _id. They are
// the server's own bytes: the caller must not modify them.
func (s *Server) beingsOfModels(store string, models []string, seqs []liveness.ModelSeqs) [][]byte {
	var ids []string
	for _, m := range seqs {
		for _, n := range m.Seqs {
			ids = append(ids, layout.DocID(m.ModelUUID, n))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	docs := s.byIDLocked(Beings, ids)
	for i, doc := range docs {
		docs[i] = projectBeing(doc)
	}
	s.emitLocked(Event{Store: store, Op: OpBeingsOfModels, Models: models, Docs: docs})
	return docs
}

// beingsBatch returns up to limit of the model's being documents, from the
// _id from on, projected onto _id, seq and key, in the order of their _id,
// and the _id a next batch starts from: "" after the last. It is one batch
// of a cursor over the model's range of ids, which goes on after the last
// id it read: documents written between batches are seen when their _id
// comes after it.
func (s *Server) beingsBatch(store, modelUUID, from string, limit int, into [][]byte) ([][]byte, string) {
	_, before := layout.ModelRange(modelUUID)
	s.mu.Lock()
	defer s.mu.Unlock()
	docs := into[:0]
	last, next := "", ""
	s.colls[Beings].scan(from, before, func(id string, doc []byte) bool {
		if len(docs) == limit {
			next = last + "\x00" // the least id after the last one read
			return false
		}
		docs = append(docs, projectBeing(doc))
		last = id
		return true
	})
	if s.observedLocked() {
		s.emitLocked(Event{Store: store, Op: OpAllBeings, ModelUUID: modelUUID, Docs: append([][]byte(nil), docs...)})
	}
	return docs, next
}

// oldSlots counts, and when remove is set removes, the model's slot
// documents whose slot field is below before.
func (s *Server) oldSlots(store, modelUUID string, before int64, remove bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	s.eachOfModelLocked(Pings, modelUUID, func(id string, doc []byte) {
		if slotBelow(doc, before) {
			ids = append(ids, id)
		}
	})
	op := OpCountOldSlots
	if remove {
		op = OpRemoveOldSlots
		for _, id := range ids {
			s.colls[Pings].remove(id)
		}
	}
	s.emitLocked(Event{Store: store, Op: op, ModelUUID: modelUUID, Slot: before, N: len(ids)})
	return len(ids)
}

// removeBeings removes the model's being documents of seqs, and returns
// how many it removed.
func (s *Server) removeBeings(store, modelUUID string, seqs []int64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, seq := range seqs {
		if s.colls[Beings].remove(layout.DocID(modelUUID, seq)) {
			n++
		}
	}
	s.emitLocked(Event{Store: store, Op: OpRemoveBeings, ModelUUID: modelUUID, N: n})
	return n
}

// removeModel removes every document of the model from the three
// collections.
func (s *Server) removeModel(store, modelUUID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c := range s.colls {
		var ids []string
		s.eachOfModelLocked(Collection(c), modelUUID, func(id string, _ []byte) {
			ids = append(ids, id)
		})
		for _, id := range ids {
			s.colls[c].remove(id)
		}
		n += len(ids)
	}
	s.emitLocked(Event{Store: store, Op: OpRemoveModel, ModelUUID: modelUUID, N: n})
}

// byIDLocked returns the documents of c named by ids that exist, each
// once, in the order of their _id, as a lookup by _id $in returns them.
func (s *Server) byIDLocked(c Collection, ids []string) [][]byte {
	coll := s.colls[c]
	found := make([]string, 0, len(ids))
	for _, id := range ids {
		if _, ok := coll.get(id); ok {
			found = append(found, id)
		}
	}
	slices.Sort(found)
	found = slices.Compact(found)
	docs := make([][]byte, len(found))
	for i, id := range found {
		docs[i], _ = coll.get(id)
	}
	return docs
}

// eachOfModelLocked calls fn with each document of the model in c, in the
// order of their _id: those whose _id is in the model's range, so not
// those of a model whose id extends this one's.
func (s *Server) eachOfModelLocked(c Collection, modelUUID string, fn func(id string, doc []byte)) {
	from, before := layout.ModelRange(modelUUID)
	s.colls[c].scan(from, before, func(id string, doc []byte) bool {
		fn(id, doc)
		return true
	})
}

// writeErrors is the failure of the documents of an unordered bulk that
// could not be written; the others were.
type writeErrors []error

func (e writeErrors) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return "write errors: [" + strings.Join(msgs, "; ") + "]"
}

func (e writeErrors) Unwrap() []error { return e }
