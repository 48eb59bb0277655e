package benchsuite

import (
	"context"
	"errors"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/presence-go/presence/internal/layout"
	"github.com/presence-go/presence/liveness"
)

// memStore is a liveness.Store that serves the documents of a seeded
// fleet from memory, as raw BSON, for the benchmarks that compare
// algorithms with the database taken out: what is left is what a watcher
// costs its controller. It serves reads only.
type memStore struct {
	pings  map[string][]byte // slot documents by _id
	beings map[string][]byte // being documents by _id
	order  []string          // being _ids in insertion order, for range reads
}

var _ liveness.Store = (*memStore)(nil)

var errReadOnly = errors.New("the in-memory store serves reads only")

// newMemFleet returns the documents of a fleet of n live keys, seeded as
// fleet.seed seeds a database: sequences 1 … n pinged in benchSlot.
func newMemFleet(n int) *memStore {
	m := &memStore{pings: map[string][]byte{}, beings: make(map[string][]byte, n), order: make([]string, 0, n)}
	alive := map[int64]uint64{}
	for seq := int64(1); seq <= int64(n); seq++ {
		alive[seq/63] |= 1 << uint(seq%63)
		id := layout.DocID(fleetModel, seq)
		raw, _ := bson.Marshal(bson.D{{Key: "_id", Value: id}, {Key: "seq", Value: seq}, {Key: "key", Value: keyOfSeq(seq)}})
		m.beings[id] = raw
		m.order = append(m.order, id)
	}
	id := layout.DocID(fleetModel, benchSlot)
	m.pings[id], _ = bson.Marshal(bson.D{{Key: "_id", Value: id}, {Key: "slot", Value: benchSlot}, {Key: "alive", Value: fieldsDoc(alive)}})
	return m
}

func (m *memStore) Names() liveness.Names {
	return liveness.Names{Seqs: "mem.presence.seqs", Beings: "mem.presence.beings", Pings: "mem.presence.pings"}
}

func (m *memStore) ServerTime(context.Context) (time.Time, error) { return benchStart, nil }

func (m *memStore) ReadSlots(_ context.Context, model string, slots []int64) ([][]byte, error) {
	var docs [][]byte
	for _, n := range slots {
		if doc, ok := m.pings[layout.DocID(model, n)]; ok {
			docs = append(docs, doc)
		}
	}
	return docs, nil
}

func (m *memStore) AllBeings(_ context.Context, model string, fn func([]byte)) error {
	from, _ := layout.ModelRange(model)
	for _, id := range m.order {
		if strings.HasPrefix(id, from) {
			fn(m.beings[id])
		}
	}
	return nil
}

func (m *memStore) BeingsOf(_ context.Context, model string, seqs []int64, fn func([]byte)) error {
	for _, seq := range seqs {
		if doc, ok := m.beings[layout.DocID(model, seq)]; ok {
			fn(doc)
		}
	}
	return nil
}

func (m *memStore) ReadSlotsOfModels(ctx context.Context, models []string, slots []int64) ([][]byte, error) {
	var docs [][]byte
	for _, model := range models {
		found, _ := m.ReadSlots(ctx, model, slots)
		docs = append(docs, found...)
	}
	return docs, nil
}

func (m *memStore) BeingsOfModels(ctx context.Context, seqs []liveness.ModelSeqs, fn func([]byte)) error {
	for _, s := range seqs {
		if err := m.BeingsOf(ctx, s.ModelUUID, s.Seqs, fn); err != nil {
			return err
		}
	}
	return nil
}

// beingsByID serves the Juju sketch's lookups by _id.
func (m *memStore) beingsByID(ids []string, fn func([]byte)) error {
	for _, id := range ids {
		if doc, ok := m.beings[id]; ok {
			fn(doc)
		}
	}
	return nil
}

// slotDocs serves the Juju sketch's slot reads.
func (m *memStore) slotDocs(ids []string) ([][]byte, error) {
	var docs [][]byte
	for _, id := range ids {
		if doc, ok := m.pings[id]; ok {
			docs = append(docs, doc)
		}
	}
	return docs, nil
}

func (m *memStore) NextSeq(context.Context, string) (int64, error)           { return 0, errReadOnly }
func (m *memStore) InsertBeing(context.Context, string, int64, string) error { return errReadOnly }
func (m *memStore) WriteSlots(context.Context, []liveness.SlotWrite) error   { return errReadOnly }
func (m *memStore) SlotsFrom(context.Context, string, int64) ([][]byte, error) {
	return nil, errReadOnly
}
func (m *memStore) CountOldSlots(context.Context, string, int64) (int, error) {
	return 0, errReadOnly
}
func (m *memStore) RemoveOldSlots(context.Context, string, int64) (int, error) {
	return 0, errReadOnly
}
func (m *memStore) RemoveBeings(context.Context, string, []int64) (int, error) {
	return 0, errReadOnly
}
func (m *memStore) RemoveModel(context.Context, string) error { return errReadOnly }
