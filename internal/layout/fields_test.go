package layout

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestFieldOfLayout(t *testing.T) {
	cases := []struct {
		seq      int64
		fieldKey string
		fieldBit uint64
	}{
		{0, "0", 1},
		{1, "0", 2},
		{62, "0", 1 << 62},
		{63, "1", 1},
		{64, "1", 2},
		{63*16 + 5, "10", 1 << 5},
		{63*255 + 62, "ff", 1 << 62},
	}
	for _, c := range cases {
		fieldKey, fieldBit, err := FieldOf(c.seq)
		if err != nil || fieldKey != c.fieldKey || fieldBit != c.fieldBit {
			t.Errorf("FieldOf(%d) = %q, %#x, %v; want %q, %#x", c.seq, fieldKey, fieldBit, err, c.fieldKey, c.fieldBit)
		}
	}
	if _, _, err := FieldOf(-1); err == nil {
		t.Errorf("FieldOf(-1) gave no error")
	}
}

func TestFieldOfNeverUsesSignBit(t *testing.T) {
	for seq := int64(0); seq < 10*BitsPerField; seq++ {
		_, fieldBit, _ := FieldOf(seq)
		if int64(fieldBit) <= 0 {
			t.Fatalf("FieldOf(%d) bit %#x is not a positive int64", seq, fieldBit)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, seq := range []int64{0, 1, 62, 63, 126, 1000, 99999, 123456789, MaxFieldIndex*BitsPerField + 62} {
		fieldKey, fieldBit, err := FieldOf(seq)
		if err != nil {
			t.Fatal(err)
		}
		index, err := ParseFieldKey(fieldKey)
		if err != nil {
			t.Fatalf("ParseFieldKey(%q): %v", fieldKey, err)
		}
		var got []int64
		EachSeq(index, fieldBit, func(s int64) { got = append(got, s) })
		if !reflect.DeepEqual(got, []int64{seq}) {
			t.Errorf("seq %d came back as %v", seq, got)
		}
	}
}

func TestParseFieldKeyRejects(t *testing.T) {
	for _, bad := range []string{"", "g", "-1", "+1", "0x1", "1.5", " 1", "ffffffffffffffff", "7fffffffffffffff", strings.Repeat("1", 40)} {
		if _, err := ParseFieldKey(bad); err == nil {
			t.Errorf("ParseFieldKey(%q) accepted", bad)
		}
	}
	if index, err := ParseFieldKey("A"); err != nil || index != 10 {
		t.Errorf("ParseFieldKey(\"A\") = %d, %v", index, err)
	}
}

func TestValidFieldBit(t *testing.T) {
	for _, ok := range []uint64{1, 2, 1 << 62} {
		if !ValidFieldBit(ok) {
			t.Errorf("ValidFieldBit(%#x) = false", ok)
		}
	}
	for _, bad := range []uint64{0, 3, 1 << 63, math.MaxUint64} {
		if ValidFieldBit(bad) {
			t.Errorf("ValidFieldBit(%#x) = true", bad)
		}
	}
}

func TestEachSeqOrder(t *testing.T) {
	var got []int64
	EachSeq(2, 1|1<<40|1<<62, func(s int64) { got = append(got, s) })
	want := []int64{126, 166, 188}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestParseFieldSpellings checks which names each spelling takes, the
// index each names, and why the others name none.
func TestParseFieldSpellings(t *testing.T) {
	type result struct {
		index int64
		fault FieldFault
	}
	ok := func(index int64) result { return result{index, FieldOK} }
	fault := func(f FieldFault) result { return result{0, f} }
	for _, c := range []struct {
		name                         string
		asWritten, upperCase, padded result
	}{
		{"0", ok(0), ok(0), ok(0)},
		{"a", ok(10), ok(10), ok(10)},
		{"0a", ok(10), ok(10), ok(10)},
		{"3e8", ok(1000), ok(1000), ok(1000)},
		{"208208208208207", ok(MaxFieldIndex), ok(MaxFieldIndex), ok(MaxFieldIndex)},
		{"208208208208208", fault(FieldBeyond), fault(FieldBeyond), fault(FieldBeyond)},
		{"ffffffffffffffff", fault(FieldBeyond), fault(FieldBeyond), fault(FieldBeyond)},
		{"", fault(FieldEmpty), fault(FieldEmpty), fault(FieldEmpty)},
		{"A", fault(FieldNotHex), ok(10), ok(10)},
		{"00A", fault(FieldNotHex), ok(10), ok(10)},
		{"1.2", fault(FieldNotHex), fault(FieldNotHex), fault(FieldNotHex)},
		{"$bit", fault(FieldNotHex), fault(FieldNotHex), fault(FieldNotHex)},
		{"g", fault(FieldNotHex), fault(FieldNotHex), fault(FieldNotHex)},
		{"-1", fault(FieldNotHex), fault(FieldNotHex), fault(FieldNotHex)},
		{"0x1", fault(FieldNotHex), fault(FieldNotHex), fault(FieldNotHex)},
		{"0000000000000001", ok(1), ok(1), ok(1)},
		{"00000000000000001", fault(FieldTooLong), fault(FieldTooLong), ok(1)},
		{"10000000000000000", fault(FieldTooLong), fault(FieldTooLong), fault(FieldBeyond)},
		{"0000000000000000g", fault(FieldTooLong), fault(FieldTooLong), fault(FieldNotHex)},
		{strings.Repeat("f", 40) + "g", fault(FieldTooLong), fault(FieldTooLong), fault(FieldNotHex)},
	} {
		for _, s := range []struct {
			spelling Spelling
			want     result
		}{{AsWritten, c.asWritten}, {UpperCase, c.upperCase}, {UpperCase | ZeroPadded, c.padded}} {
			index, fault := ParseField(c.name, s.spelling)
			if got := (result{index, fault}); got != s.want {
				t.Errorf("ParseField(%q, %d) = %v; want %v", c.name, s.spelling, got, s.want)
			}
			if index, fault := ParseField([]byte(c.name), s.spelling); (result{index, fault}) != s.want {
				t.Errorf("ParseField([]byte(%q), %d) = %d, %d; want %v", c.name, s.spelling, index, fault, s.want)
			}
		}
	}
}

// TestParseFieldAllocatesNothing checks that a ping's field name is read
// without an allocation, from a string or from a document's bytes.
func TestParseFieldAllocatesNothing(t *testing.T) {
	name, raw := "3e8", []byte("3E8")
	if n := testing.AllocsPerRun(100, func() {
		ParseField(name, AsWritten)
		ParseField(raw, UpperCase)
	}); n != 0 {
		t.Errorf("ParseField allocates %v times", n)
	}
}
