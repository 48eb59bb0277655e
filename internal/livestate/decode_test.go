package livestate

import (
	"maps"
	"testing"

	"github.com/presence-go/presence/internal/layout"
)

// FuzzDecodePart feeds parts of any shape to DecodePart: it must not
// panic, and where its fast path accepts a part, the careful decoder must
// read exactly the same with no problem.
func FuzzDecodePart(f *testing.F) {
	f.Add(fields(f, "0", int64(6), "1", int32(1)))
	f.Add(fields(f, "0", int64(6), "0", int64(1)))
	f.Add(fields(f, "zz", int64(1), "1", 1.5))
	f.Fuzz(func(t *testing.T, part []byte) {
		got := map[int64]uint64{}
		careful := DecodePart(part, got, func(string) {})
		for index := range got {
			if index < 0 || index > layout.MaxFieldIndex {
				t.Fatalf("field index %d out of range", index)
			}
		}
		if careful {
			return
		}
		want := map[int64]uint64{}
		decodeCarefully(part, want, func(problem string) {
			t.Fatalf("the fast path accepted a part the careful one questions: %s", problem)
		})
		if !maps.Equal(got, want) {
			t.Fatalf("fast path read %v, careful one %v", got, want)
		}
	})
}
