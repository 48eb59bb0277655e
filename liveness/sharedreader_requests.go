package liveness

import (
	"bytes"
	"context"
	"time"

	"github.com/presence-go/presence/internal/bsonraw"
	"github.com/presence-go/presence/internal/layout"
)

// The shared reader's requests: a poll of many models' live slots, and a
// lookup of many models' beings, each in requests of at most layout.Batch
// ids, their documents sorted out by the model their _id names.

// opTimeoutOf returns the shortest operation timeout of members: a round
// is bounded as the strictest of its watchers would bound its own read.
func opTimeoutOf(members []*subscription) time.Duration {
	timeout := members[0].opTimeout
	for _, s := range members[1:] {
		timeout = min(timeout, s.opTimeout)
	}
	return timeout
}

// modelsOf returns the models of members, sorted as they are, once each.
func modelsOf(members []*subscription) []string {
	models := make([]string, 0, len(members))
	for _, s := range members {
		if len(models) == 0 || models[len(models)-1] != s.model {
			models = append(models, s.model)
		}
	}
	return models
}

// poll reads the live slot documents of models, as many models a request
// as fit in layout.Batch ids, and returns them by model. It records the
// slots it read in d.
func (r *sharedReader) poll(ctx context.Context, models []string, d *delivery) (map[string][][]byte, error) {
	f, err := r.clock.get(ctx)
	if err != nil {
		return nil, err
	}
	d.slots = liveSlots(f, r.local.Now(), r.period)
	perRequest := max(1, layout.Batch/len(d.slots))
	docs := newByModel(models)
	for start := 0; start < len(models); start += perRequest {
		read, err := r.store.ReadSlotsOfModels(ctx, models[start:min(start+perRequest, len(models))], d.slots)
		if err != nil {
			return nil, err
		}
		for _, doc := range read {
			docs.add(doc)
		}
	}
	return docs.byModel(), nil
}

// byModel sorts documents by the model their _id names, among the models
// it was made for; the documents of no such model are left out.
type byModel struct {
	models []string
	index  map[string]int
	docs   [][][]byte
}

func newByModel(models []string) *byModel {
	b := &byModel{models: models, index: make(map[string]int, len(models)), docs: make([][][]byte, len(models))}
	for i, model := range models {
		b.index[model] = i
	}
	return b
}

// add files doc under its model.
func (b *byModel) add(doc []byte) {
	if model, ok := modelOfDoc(doc); ok {
		if i, asked := b.index[string(model)]; asked {
			b.docs[i] = append(b.docs[i], doc)
		}
	}
}

// byModel returns the documents filed, by model.
func (b *byModel) byModel() map[string][][]byte {
	m := make(map[string][][]byte, len(b.models))
	for i, model := range b.models {
		if len(b.docs[i]) > 0 {
			m[model] = b.docs[i]
		}
	}
	return m
}

// modelOfDoc returns the model a document's _id names; ok is false for a
// document whose _id is not a string of a model's.
func modelOfDoc(doc []byte) (model []byte, ok bool) {
	e, found, err := bsonraw.Lookup(doc, "_id")
	if err != nil || !found {
		return nil, false
	}
	id, ok := e.StrBytes()
	if !ok {
		return nil, false
	}
	return layout.ModelOfID(id)
}

// lookup reads the beings of needs, layout.Batch sequences a request, and
// returns copies of them by model.
func (r *sharedReader) lookup(ctx context.Context, needs []ModelSeqs) (map[string][][]byte, error) {
	models := make([]string, len(needs))
	for i, n := range needs {
		models[i] = n.ModelUUID
	}
	found := newByModel(models)
	keep := func(doc []byte) { found.add(bytes.Clone(doc)) }
	var batch []ModelSeqs
	size := 0
	flush := func() error {
		err := r.store.BeingsOfModels(ctx, batch, keep)
		batch, size = batch[:0], 0
		return err
	}
	for _, n := range needs {
		for seqs := n.Seqs; len(seqs) > 0; {
			take := min(len(seqs), layout.Batch-size)
			batch = append(batch, ModelSeqs{ModelUUID: n.ModelUUID, Seqs: seqs[:take]})
			size += take
			seqs = seqs[take:]
			if size == layout.Batch {
				if err := flush(); err != nil {
					return nil, err
				}
			}
		}
	}
	if size > 0 {
		if err := flush(); err != nil {
			return nil, err
		}
	}
	return found.byModel(), nil
}
