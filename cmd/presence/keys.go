package main

import (
	"context"

	"github.com/presence-go/presence/internal/bsonraw"
	"github.com/presence-go/presence/liveness"
)

// A Watcher answers for the keys it is asked about; which keys a model has
// is not something the library's workers tell. The commands find them in
// the model's being documents, which the store hands over as raw BSON: a
// being maps a sequence to its key, one for each Start of a pinger.

// modelKeys returns every key of the model that has a being, with the
// newest sequence recorded for it. Beings that cannot be read are left
// out, as a watcher leaves them out.
func modelKeys(ctx context.Context, store liveness.Store, model string) (map[string]int64, error) {
	keys := make(map[string]int64)
	err := store.AllBeings(ctx, model, func(doc []byte) {
		seq, key, ok := readBeing(doc)
		if !ok {
			return
		}
		if newest, seen := keys[key]; !seen || seq > newest {
			keys[key] = seq
		}
	})
	if err != nil {
		return nil, err
	}
	return keys, nil
}

// readBeing returns the sequence and the key of a being document.
func readBeing(doc []byte) (seq int64, key string, ok bool) {
	seqElem, found, err := bsonraw.Lookup(doc, "seq")
	if err != nil || !found {
		return 0, "", false
	}
	keyElem, found, err := bsonraw.Lookup(doc, "key")
	if err != nil || !found {
		return 0, "", false
	}
	if seq, ok = seqElem.Int64(); !ok {
		return 0, "", false
	}
	key, ok = keyElem.Str()
	return seq, key, ok && key != ""
}
