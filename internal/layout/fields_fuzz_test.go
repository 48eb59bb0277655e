package layout

import (
	"math"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseFieldKey checks that any field name either fails or names an
// index whose 63 sequences all fit in an int64, and that the names FieldOf
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
		if index < 0 || index > MaxFieldIndex {
			t.Fatalf("ParseFieldKey(%q) = %d, outside [0, %d]", fieldKey, index, MaxFieldIndex)
		}
		if last := SeqAt(index, BitsPerField-1); last < 0 {
			t.Fatalf("ParseFieldKey(%q) = %d, whose last sequence %d overflows", fieldKey, index, last)
		}
		encoded, _, err := FieldOf(SeqAt(index, 0))
		if err != nil {
			t.Fatalf("FieldOf(SeqAt(%d, 0)): %v", index, err)
		}
		if back, err := ParseFieldKey(encoded); err != nil || back != index {
			t.Fatalf("ParseFieldKey(FieldOf(%d)) = %d, %v", index, back, err)
		}
	})
}

// FuzzEachSeq checks that EachSeq yields, in increasing order, one
// sequence for each bit of a field's word, and that FieldOf puts each back
// in that field at that bit.
func FuzzEachSeq(f *testing.F) {
	f.Add("0", uint64(5))
	f.Add("1f", uint64(1)<<62)
	f.Add("208208208208208", uint64(1)<<62|1)
	f.Add("0", uint64(math.MaxUint64))
	f.Fuzz(func(t *testing.T, fieldKey string, word uint64) {
		index, err := ParseFieldKey(fieldKey)
		if err != nil {
			return
		}
		word &= 1<<BitsPerField - 1
		var yielded uint64
		last := int64(-1)
		EachSeq(index, word, func(seq int64) {
			if seq <= last {
				t.Fatalf("EachSeq(%d, %#x) yielded %d after %d", index, word, seq, last)
			}
			last = seq
			key, bit, err := FieldOf(seq)
			if err != nil {
				t.Fatalf("FieldOf(%d): %v", seq, err)
			}
			if back, _ := ParseFieldKey(key); back != index || word&bit == 0 || yielded&bit != 0 {
				t.Fatalf("sequence %d encodes to %q bit %#x, not a bit of field %d = %#x yielded once", seq, key, bit, index, word)
			}
			yielded |= bit
		})
		if yielded != word {
			t.Fatalf("EachSeq(%d, %#x) yielded the bits %#x", index, word, yielded)
		}
	})
}

// FuzzParseFieldSpellingsNest checks that the spellings nest: a name that
// a narrower spelling takes, a wider one takes too, as the same index;
// and that the widest takes exactly the hexadecimal names, of either
// case, that strconv reads as an index no greater than MaxFieldIndex.
func FuzzParseFieldSpellingsNest(f *testing.F) {
	for _, seed := range []string{"0", "3e8", "A", "00000000000000001", "208208208208208", "ffffffffffffffff", "", "-1", "0x1"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, name string) {
		taken := false // by a narrower spelling
		var index int64
		for _, spelling := range []Spelling{AsWritten, UpperCase, UpperCase | ZeroPadded} {
			got, fault := ParseField(name, spelling)
			if taken && (fault != FieldOK || got != index) {
				t.Fatalf("ParseField(%q, %d) = %d, %d; a narrower spelling read %d", name, spelling, got, fault, index)
			}
			taken, index = fault == FieldOK, got
		}
		hex := name != "" && strings.Trim(name, "0123456789abcdefABCDEF") == ""
		n, err := strconv.ParseInt(name, 16, 64)
		want := hex && err == nil && n <= MaxFieldIndex
		if taken != want || taken && index != n {
			t.Fatalf("ParseField(%q, UpperCase|ZeroPadded) = %d, %v; strconv reads %d, %v", name, index, taken, n, err)
		}
	})
}
