package layout

import "testing"

// BenchmarkFieldOf measures naming the field and bit of a sequence, which a
// pinger does once per Start.
func BenchmarkFieldOf(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, _, err := FieldOf(int64(i)); err != nil {
			b.Fatal(err)
		}
	}
}
