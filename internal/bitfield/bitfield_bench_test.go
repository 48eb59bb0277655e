package bitfield

import (
	"fmt"
	"strconv"
	"testing"
)

// BenchmarkDecode measures turning the alive sub-document of a slot where
// sequences 1..n pinged, as a BSON decoder hands it over, into field words.
func BenchmarkDecode(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		words := make(map[int64]uint64)
		for seq := int64(1); seq <= int64(n); seq++ {
			words[seq/BitsPerField] |= 1 << uint(seq%BitsPerField)
		}
		fields := make(map[string]interface{}, len(words))
		for index, word := range words {
			fields[strconv.FormatInt(index, 16)] = int64(word)
		}
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				dst := make(map[int64]uint64, len(fields))
				Decode(fields, dst, func(fieldKey string, err error) { b.Fatal(err) })
				if len(dst) != len(words) {
					b.Fatalf("decoded %d fields, want %d", len(dst), len(words))
				}
			}
		})
	}
}

// BenchmarkEncode measures naming the field and bit of a sequence, which a
// pinger does once per Start.
func BenchmarkEncode(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, _, err := Encode(int64(i)); err != nil {
			b.Fatal(err)
		}
	}
}
