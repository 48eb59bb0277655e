package memstore_test

import (
	"errors"
	"testing"

	"github.com/presence-go/presence/internal/layout"
	"github.com/presence-go/presence/internal/memstore"
	"github.com/presence-go/presence/internal/storetest"
	"github.com/presence-go/presence/liveness"
)

// TestConformance runs the Store suite, which the adapters run on the test
// database, on the in-memory store.
func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Subject{
		Open: func(t *testing.T) (liveness.Store, func(string, []byte)) {
			store := memstore.New()
			insert := func(suffix string, doc []byte) {
				t.Helper()
				if err := store.Server().Put(collectionOf(t, suffix), doc); err != nil {
					t.Fatal(err)
				}
			}
			return store, insert
		},
		IsDuplicate: func(err error) bool { return errors.Is(err, memstore.ErrDuplicateKey) },
	})
}

// collectionOf returns the collection named by its suffix.
func collectionOf(t *testing.T, suffix string) memstore.Collection {
	t.Helper()
	switch suffix {
	case layout.SeqsSuffix:
		return memstore.Seqs
	case layout.BeingsSuffix:
		return memstore.Beings
	case layout.PingsSuffix:
		return memstore.Pings
	}
	t.Fatalf("no collection %q", suffix)
	return 0
}
