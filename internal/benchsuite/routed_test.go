package benchsuite

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/presence-go/presence/liveness"
)

// routedStore spreads models over several stores, each a base of its own
// in its own database, for the fleet runs of many models: the test server
// scans a whole collection for every lookup by _id, so a thousand models'
// beings in one collection make every lookup pay for all of them, where
// MongoDB's _id index pays for one. Every operation concerns one model and
// goes to that model's store; a bulk write is split by store, in order.
// The workers see one store, as a controller's do, and the server gets the
// same statements and reads as with one database, in more commands.
type routedStore struct {
	stores []liveness.Store
	group  map[string]int // model → index in stores
	// reads counts the read requests the engine made of the store: as
	// many as one database would receive, however many they became.
	reads atomic.Int64
}

var _ liveness.Store = (*routedStore)(nil)

func (r *routedStore) of(model string) liveness.Store { return r.stores[r.group[model]] }

func (r *routedStore) Names() liveness.Names { return r.stores[0].Names() }

func (r *routedStore) ServerTime(ctx context.Context) (time.Time, error) {
	return r.stores[0].ServerTime(ctx)
}

func (r *routedStore) NextSeq(ctx context.Context, model string) (int64, error) {
	return r.of(model).NextSeq(ctx, model)
}

func (r *routedStore) InsertBeing(ctx context.Context, model string, seq int64, key string) error {
	return r.of(model).InsertBeing(ctx, model, seq, key)
}

func (r *routedStore) WriteSlots(ctx context.Context, writes []liveness.SlotWrite) error {
	byStore := make([][]liveness.SlotWrite, len(r.stores))
	for _, w := range writes {
		i := r.group[w.ModelUUID]
		byStore[i] = append(byStore[i], w)
	}
	for i, ws := range byStore {
		if len(ws) > 0 {
			if err := r.stores[i].WriteSlots(ctx, ws); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *routedStore) ReadSlots(ctx context.Context, model string, slots []int64) ([][]byte, error) {
	r.reads.Add(1)
	return r.of(model).ReadSlots(ctx, model, slots)
}

// ReadSlotsOfModels reads the models of each store in one request: as
// many as the stores the models live in, where one database would take
// one (the engine names at most a thousand ids a request, and the fleet
// runs that count requests put as many models in a database).
func (r *routedStore) ReadSlotsOfModels(ctx context.Context, models []string, slots []int64) ([][]byte, error) {
	r.reads.Add(1)
	byStore := make([][]string, len(r.stores))
	for _, model := range models {
		i := r.group[model]
		byStore[i] = append(byStore[i], model)
	}
	var docs [][]byte
	for i, ms := range byStore {
		if len(ms) > 0 {
			found, err := r.stores[i].ReadSlotsOfModels(ctx, ms, slots)
			if err != nil {
				return nil, err
			}
			docs = append(docs, found...)
		}
	}
	return docs, nil
}

func (r *routedStore) BeingsOfModels(ctx context.Context, seqs []liveness.ModelSeqs, fn func([]byte)) error {
	r.reads.Add(1)
	byStore := make([][]liveness.ModelSeqs, len(r.stores))
	for _, s := range seqs {
		i := r.group[s.ModelUUID]
		byStore[i] = append(byStore[i], s)
	}
	for i, ss := range byStore {
		if len(ss) > 0 {
			if err := r.stores[i].BeingsOfModels(ctx, ss, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *routedStore) SlotsFrom(ctx context.Context, model string, from int64) ([][]byte, error) {
	r.reads.Add(1)
	return r.of(model).SlotsFrom(ctx, model, from)
}

func (r *routedStore) BeingsOf(ctx context.Context, model string, seqs []int64, fn func([]byte)) error {
	r.reads.Add(1)
	return r.of(model).BeingsOf(ctx, model, seqs, fn)
}

func (r *routedStore) AllBeings(ctx context.Context, model string, fn func([]byte)) error {
	r.reads.Add(1)
	return r.of(model).AllBeings(ctx, model, fn)
}

func (r *routedStore) CountOldSlots(ctx context.Context, model string, before int64) (int, error) {
	return r.of(model).CountOldSlots(ctx, model, before)
}

func (r *routedStore) RemoveOldSlots(ctx context.Context, model string, before int64) (int, error) {
	return r.of(model).RemoveOldSlots(ctx, model, before)
}

func (r *routedStore) RemoveBeings(ctx context.Context, model string, seqs []int64) (int, error) {
	return r.of(model).RemoveBeings(ctx, model, seqs)
}

func (r *routedStore) RemoveModel(ctx context.Context, model string) error {
	return r.of(model).RemoveModel(ctx, model)
}
