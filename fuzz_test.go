package presence

import (
	"maps"
	"math"
	"testing"

	"github.com/juju/mgo/v2/bson"

	"github.com/presence-go/presence/internal/bitfield"
)

// FuzzDecodePingDoc feeds slot documents of any shape to the decoder the
// watcher and the pruner share: whatever someone else wrote into the pings
// collection, decoding must not panic and must return only sequences a
// pinger could have been given. The seed corpus, valid documents and
// corrupt ones, is in testdata/fuzz/FuzzDecodePingDoc.
func FuzzDecodePingDoc(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var doc pingDoc
		if bson.Unmarshal(data, &doc) != nil {
			return
		}
		alive, dead, _ := decodePingDoc(&doc)
		for part, words := range map[string]map[int64]uint64{"alive": alive, "dead": dead} {
			for index, word := range words {
				if index < 0 {
					t.Fatalf("%s: negative field index %d", part, index)
				}
				if word >= 1<<63 {
					t.Fatalf("%s: field %d holds %#x, beyond 63 bits", part, index, word)
				}
				if index > (math.MaxInt64-62)/63 {
					t.Fatalf("%s: field %d holds sequences beyond int64", part, index)
				}
			}
		}
		// The fast walk over raw bytes, where it accepts a part, must
		// read exactly what the careful decoder reads.
		for _, raw := range []bson.Raw{doc.Alive, doc.Dead} {
			fast := map[int64]uint64{}
			if !walkFields(raw, fast) {
				continue
			}
			fields, err := rawFields(raw)
			if err != nil {
				t.Fatalf("fast path accepted what the careful one rejects: %v", err)
			}
			careful := map[int64]uint64{}
			bitfield.Decode(fields, careful, func(fieldKey string, err error) {
				t.Fatalf("fast path accepted field %q that the careful one rejects: %v", fieldKey, err)
			})
			if !maps.Equal(fast, careful) {
				t.Fatalf("fast path read %v, careful one %v", fast, careful)
			}
		}
	})
}
