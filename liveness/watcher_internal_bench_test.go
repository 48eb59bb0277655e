package liveness

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/juju/mgo/v2/bson"

	"github.com/presence-go/presence/internal/bitfield"
	"github.com/presence-go/presence/internal/livestate"
)

// slotBytes returns the BSON of a slot document where sequences 1..n
// pinged and, when killed, every hundredth of them (1%) was killed too.
func slotBytes(b *testing.B, slotNum int64, n int, killed bool) []byte {
	alive, dead := bson.M{}, bson.M{}
	words, deadWords := map[int64]uint64{}, map[int64]uint64{}
	for seq := int64(1); seq <= int64(n); seq++ {
		index, bit := seq/bitfield.BitsPerField, uint64(1)<<uint(seq%bitfield.BitsPerField)
		words[index] |= bit
		if seq%100 == 0 {
			deadWords[index] |= bit
		}
	}
	for index, word := range words {
		alive[strconv.FormatInt(index, 16)] = int64(word)
	}
	for index, word := range deadWords {
		dead[strconv.FormatInt(index, 16)] = int64(word)
	}
	doc := bson.M{"_id": "m:" + strconv.FormatInt(slotNum, 10), "slot": slotNum, "alive": alive}
	if killed {
		doc["dead"] = dead
	}
	raw, err := bson.Marshal(doc)
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// BenchmarkWatcherDecodeDiff measures the CPU a watcher's sync spends once
// the two live slot documents have arrived: decoding their BSON, building
// the window, diffing it with the previous one and updating the tracker,
// exactly as sync does, without the round trip. With changed=1% every op
// flips 1% of the keys (alternately killed and revived).
func BenchmarkWatcherDecodeDiff(b *testing.B) {
	benchDecodeDiff(b, func(w *Watcher, window livestate.Window, doc []byte) { w.addSlot(window, doc) })
}

func benchDecodeDiff(b *testing.B, addSlot func(*Watcher, livestate.Window, []byte)) {
	for _, n := range []int{1000, 10000, 100000} {
		for _, churn := range []string{"0", "1%"} {
			b.Run(fmt.Sprintf("keys=%d/changed=%s", n, churn), func(b *testing.B) {
				// The previous slot holds every ping; the current one also
				// holds the kills when killed.
				previous := slotBytes(b, 30, n, false)
				current := [2][]byte{slotBytes(b, 60, n, false), slotBytes(b, 60, n, true)}
				w := &Watcher{
					cfg:        newConfig(nil),
					window:     livestate.Window{},
					tracker:    livestate.NewTracker(),
					unresolved: make(map[int64]bool),
					watches:    make(map[string][]chan<- Change),
					corrupt:    newCorruptLog(newConfig(nil).logger, "bench"),
					store:      BrokenStore(nil),
				}
				keys := make(map[int64]string, n)
				for seq := int64(1); seq <= int64(n); seq++ {
					keys[seq] = "machine-" + strconv.FormatInt(seq, 10)
				}
				decodeDiff := func(killed int) int {
					window := livestate.Window{}
					for _, doc := range [][]byte{previous, current[killed]} {
						addSlot(w, window, doc)
					}
					moved := w.diff(window)
					unknown := w.unknownSeqs(moved, window)
					found := make(map[int64]string, len(unknown)) // what lookup reads
					for _, seq := range unknown {
						found[seq] = keys[seq]
					}
					w.commit(window, moved, unknown, found)
					return len(moved)

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
			})
		}
	}
}

// BenchmarkSlotDecode measures decoding one slot document of n live keys
// already read from the wire.
func BenchmarkSlotDecode(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		raw := slotBytes(b, 30, n, true)
		b.Run(fmt.Sprintf("keys=%d/decoder=walk", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, problems := decodeSlotDoc(raw); problems != nil {
					b.Fatal(problems)
				}
			}
		})
	}
}
