package presence

import (
	"math"
	"testing"

	"github.com/juju/mgo/v2/bson"
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
	})
}
