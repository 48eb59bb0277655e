package layout

import (
	"maps"
	"testing"

	"github.com/juju/mgo/v2/bson"
)

// partOf encodes the alive or dead part of a slot document from (field
// name, value) pairs, in that order.
func partOf(t testing.TB, pairs ...any) []byte {
	t.Helper()
	var d bson.D
	for i := 0; i < len(pairs); i += 2 {
		d = append(d, bson.DocElem{Name: pairs[i].(string), Value: pairs[i+1]})
	}
	raw, err := bson.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// FuzzDecodePart feeds parts of any shape to DecodePart: it must not
// panic, and where its fast path accepts a part, the careful decoder must
// read exactly the same with no problem.
func FuzzDecodePart(f *testing.F) {
	f.Add(partOf(f, "0", int64(6), "1", int32(1)))
	f.Add(partOf(f, "0", int64(6), "0", int64(1)))
	f.Add(partOf(f, "zz", int64(1), "1", 1.5))
	f.Fuzz(func(t *testing.T, part []byte) {
		got := map[int64]uint64{}
		careful := DecodePart(part, got, func(string) {})
		for index := range got {
			if index < 0 || index > MaxFieldIndex {
				t.Fatalf("field index %d out of range", index)
			}
		}
		if careful {
			return
		}
		want := map[int64]uint64{}
		DecodePartCarefully(part, want, func(problem string) {
			t.Fatalf("the fast path accepted a part the careful one questions: %s", problem)
		})
		if !maps.Equal(got, want) {
			t.Fatalf("fast path read %v, careful one %v", got, want)
		}
	})
}
