package bitfield

import (
	"math"
	"testing"
)

// FuzzParseFieldKey checks that any field name either fails or names an
// index whose 63 sequences all fit in an int64, and that the names Encode
// writes parse back to the index they came from.
func FuzzParseFieldKey(f *testing.F) {
	for _, seed := range []string{"0", "1f", "AB", "", "-1", "+1", "0x1", "zz", "ffffffffffffffff", "208208208208208", "2082082082082082", "7fffffffffffffff", " 1", "1\x00"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, fieldKey string) {
		index, err := ParseFieldKey(fieldKey)
		if err != nil {
			return
		}
		if index < 0 || index > MaxIndex {
			t.Fatalf("ParseFieldKey(%q) = %d, outside [0, %d]", fieldKey, index, MaxIndex)
		}
		if last := Seq(index, BitsPerField-1); last < 0 {
			t.Fatalf("ParseFieldKey(%q) = %d, whose last sequence %d overflows", fieldKey, index, last)
		}
		encoded, _, err := Encode(Seq(index, 0))
		if err != nil {
			t.Fatalf("Encode(Seq(%d, 0)): %v", index, err)
		}
		if back, err := ParseFieldKey(encoded); err != nil || back != index {
			t.Fatalf("ParseFieldKey(Encode(%d)) = %d, %v", index, back, err)
		}
	})
}

// FuzzDecode checks that one field of any integer value decodes to
// non-negative indexes and 63-bit words, and that every sequence EachSeq
// yields encodes back to that field.
func FuzzDecode(f *testing.F) {
	f.Add("0", int64(5), 0)
	f.Add("1f", int64(1)<<62, 1)
	f.Add("zz", int64(1), 2)
	f.Add("0", int64(-1), 0)
	f.Add("7fffffffffffffff", int64(math.MaxInt64), 0)
	f.Add("0", int64(math.MinInt64), 1)
	f.Fuzz(func(t *testing.T, fieldKey string, value int64, width int) {
		var v interface{}
		switch width % 3 {
		case 0:
			v = value
		case 1:
			v = int(value)
		default:
			v = int32(value)
		}
		dst := make(map[int64]uint64)
		bad := 0
		Decode(map[string]interface{}{fieldKey: v}, dst, func(string, error) { bad++ })
		if len(dst)+bad != 1 {
			t.Fatalf("Decode of one field gave %d words and %d errors", len(dst), bad)
		}
		for index, word := range dst {
			if index < 0 || word >= 1<<BitsPerField {
				t.Fatalf("Decode(%q: %d) gave field %d = %#x", fieldKey, value, index, word)
			}
			EachSeq(index, word, func(seq int64) {
				key, bit, err := Encode(seq)
				if err != nil {
					t.Fatalf("Encode(%d): %v", seq, err)
				}
				if back, _ := ParseFieldKey(key); back != index || word&bit == 0 {
					t.Fatalf("sequence %d encodes to %q bit %#x, not in field %d = %#x", seq, key, bit, index, word)
				}
			})
		}
	})
}
