package layout

import "testing"

// FuzzDecodeSlotDoc feeds slot documents of any shape to the decoder the
// pruner uses: whatever someone else wrote into the pings collection,
// decoding must not panic and must return only sequences a pinger could
// have been given. The seed corpus, valid documents and corrupt ones, is in
// testdata/fuzz/FuzzDecodeSlotDoc; the parts' fast and careful paths are
// compared by FuzzDecodePart.
func FuzzDecodeSlotDoc(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		d, _ := DecodeSlotDoc(data)
		for part, words := range map[string]map[int64]uint64{"alive": d.Alive, "dead": d.Dead} {
			for index, word := range words {
				if index < 0 || index > MaxFieldIndex {
					t.Fatalf("%s: field index %d out of range", part, index)
				}
				if word >= 1<<63 {
					t.Fatalf("%s: field %d holds %#x, beyond 63 bits", part, index, word)
				}
			}
		}
	})
}
