package liveness

import (
	"maps"
	"testing"

	"github.com/presence-go/presence/internal/bitfield"
	"github.com/presence-go/presence/internal/bsonraw"
)

// FuzzDecodeSlotDoc feeds slot documents of any shape to the decoder the
// watcher and the pruner share: whatever someone else wrote into the pings
// collection, decoding must not panic and must return only sequences a
// pinger could have been given. The seed corpus, valid documents and
// corrupt ones, is in testdata/fuzz/FuzzDecodeSlotDoc.
func FuzzDecodeSlotDoc(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		d, _ := decodeSlotDoc(data)
		for part, words := range map[string]map[int64]uint64{"alive": d.alive, "dead": d.dead} {
			for index, word := range words {
				if index < 0 || index > bitfield.MaxIndex {
					t.Fatalf("%s: field index %d out of range", part, index)
				}
				if word >= 1<<63 {
					t.Fatalf("%s: field %d holds %#x, beyond 63 bits", part, index, word)
				}
			}
		}
		// The fast walk over raw bytes, where it accepts a part, must
		// read exactly what the careful decoder reads, with no problem.
		for _, name := range []string{"alive", "dead"} {
			e, found, err := bsonraw.Lookup(data, name)
			if err != nil || !found || e.Type != bsonraw.TypeDocument {
				continue
			}
			fast := map[int64]uint64{}
			if !walkFields(e.Value, fast) {
				continue
			}
			careful := map[int64]uint64{}
			readFields(e.Value, careful, func(problem string) {
				t.Fatalf("fast path accepted %s, where the careful one finds: %s", name, problem)
			})
			if !maps.Equal(fast, careful) {
				t.Fatalf("fast path read %v, careful one %v", fast, careful)
			}
		}
	})
}
