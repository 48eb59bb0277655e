package bitfield

import "testing"

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
