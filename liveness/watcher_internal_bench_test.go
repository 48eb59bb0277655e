package liveness

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/juju/mgo/v2/bson"

	"github.com/presence-go/presence/internal/layout"
	"github.com/presence-go/presence/internal/livestate"
)

// benchModel is the model of the slot documents these benchmarks decode.
const benchModel = "bench"

// slotBytes returns the BSON of a slot document where sequences 1..n
// pinged and, when killed, every hundredth of them (1%) was killed too,
// with its fields in index order, as a batcher writes them.
func slotBytes(b *testing.B, slotNum int64, n int, killed bool) []byte {
	var alive, dead bson.D
	for index := int64(0); index <= int64(n)/layout.BitsPerField; index++ {
		var word, deadWord uint64
		for bit := int64(0); bit < layout.BitsPerField; bit++ {
			if seq := index*layout.BitsPerField + bit; seq >= 1 && seq <= int64(n) {
				word |= 1 << uint(bit)
				if seq%100 == 0 {
					deadWord |= 1 << uint(bit)
				}
			}
		}
		name := strconv.FormatInt(index, 16)
		alive = append(alive, bson.DocElem{Name: name, Value: int64(word)})
		if deadWord != 0 {
			dead = append(dead, bson.DocElem{Name: name, Value: int64(deadWord)})
		}
	}
	doc := bson.D{{Name: "_id", Value: layout.DocID(benchModel, slotNum)}, {Name: "slot", Value: slotNum}, {Name: "alive", Value: alive}}
	if killed {
		doc = append(doc, bson.DocElem{Name: "dead", Value: dead})
	}
	raw, err := bson.Marshal(doc)
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// BenchmarkWatcherDecodeDiff measures the CPU a watcher's sync spends once
// the two live slot documents have arrived: finding their parts, comparing
// them with the last read, working out which sequences moved and updating
// the tracker, exactly as sync does, without the round trip. With
// changed=1% every op flips 1% of the keys (alternately killed and
// revived).
func BenchmarkWatcherDecodeDiff(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000, 1000000} {
		for _, churn := range []string{"0", "1%"} {
			b.Run(fmt.Sprintf("keys=%d/changed=%s", n, churn), func(b *testing.B) {
				// The previous slot holds every ping; the current one also
				// holds the kills when killed.
				previous := slotBytes(b, 30, n, false)
				current := [2][]byte{slotBytes(b, 60, n, false), slotBytes(b, 60, n, true)}
				w := &Watcher{
					cfg:        newConfig(nil),
					modelUUID:  benchModel,
					tracker:    livestate.NewTracker(),
					unresolved: make(map[int64]bool),
					watches:    make(map[string][]chan<- Change),
					corrupt:    newCorruptLog(newConfig(nil).logger, benchModel),
					store:      BrokenStore(nil),
				}
				decodeDiff := func(killed int) int {
					read := w.readDocs([][]byte{previous, current[killed]}, []int64{30, 60})
					unknown := w.unknownSeqs(read)
					found := make([]seqKey, 0, len(unknown)) // what lookup reads
					for _, seq := range unknown {
						found = append(found, seqKey{seq, "machine-" + strconv.FormatInt(seq, 10)})
					}
					w.commit(read, unknown, found)
					return len(read.Changes())
				}
				decodeDiff(0)
				if w.tracker.LiveCount() != n {
					b.Fatalf("%d keys alive, want %d", w.tracker.LiveCount(), n)
				}
				killed, changes := 0, 0
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if churn != "0" {
						killed = 1 - killed
					}
					changes += decodeDiff(killed)
				}
				b.StopTimer()
				b.ReportMetric(float64(changes)/float64(b.N), "changes/op")
				if churn != "0" && changes > 0 {
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(changes), "ns/change")
				}
			})
		}
	}
}

// BenchmarkSlotDecode measures decoding one slot document of n live keys
// whole, as the pruner does.
func BenchmarkSlotDecode(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		raw := slotBytes(b, 30, n, true)
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, problems := layout.DecodeSlotDoc(raw); problems != nil {
					b.Fatal(problems)
				}
			}
		})
	}
}
