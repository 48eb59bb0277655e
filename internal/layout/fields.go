package layout

import (
	"fmt"
	"math"
	"math/bits"
	"strconv"
)

// How a sequence is recorded in a slot document: sequence n lives in the
// field named hex(n / 63) (lower-case, no prefix) of its alive or dead
// part, at bit n % 63. Only 63 bits of each int64 are used so that the
// sign bit stays clear and every stored value is a non-negative int64,
// which is how Juju lays out its documents. A field's bits are handled as
// a word, a uint64.

// BitsPerField is how many sequences share one field.
const BitsPerField = 63

// MaxFieldIndex is the largest field index whose sequences all fit in an
// int64.
const MaxFieldIndex = (math.MaxInt64 - (BitsPerField - 1)) / BitsPerField

// FieldOf returns the field name and the bit mask that record seq. It
// reports an error for a negative seq, which no pinger is ever given.
func FieldOf(seq int64) (fieldKey string, fieldBit uint64, err error) {
	if seq < 0 {
		return "", 0, fmt.Errorf("sequence %d is negative", seq)
	}
	return strconv.FormatInt(seq/BitsPerField, 16), 1 << uint(seq%BitsPerField), nil
}

// ParseFieldKey returns the index named by a field name written by FieldOf.
// Upper-case digits are accepted as Juju's reader accepts them; signs,
// prefixes, empty names and indexes whose sequences would overflow are not.
func ParseFieldKey(fieldKey string) (int64, error) {
	if fieldKey == "" {
		return 0, fmt.Errorf("empty field name")
	}
	for i := 0; i < len(fieldKey); i++ {
		c := fieldKey[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return 0, fmt.Errorf("field name %q is not hexadecimal", fieldKey)
		}
	}
	index, err := strconv.ParseInt(fieldKey, 16, 64)
	if err != nil || index > MaxFieldIndex {
		return 0, fmt.Errorf("field name %q is out of range", fieldKey)
	}
	return index, nil
}

// ValidFieldBit reports whether fieldBit is a single bit of the 63 in use.
func ValidFieldBit(fieldBit uint64) bool {
	return fieldBit != 0 && fieldBit&(fieldBit-1) == 0 && fieldBit < 1<<BitsPerField
}

// SeqAt returns the sequence recorded at bit position bit of field index.
func SeqAt(index int64, bit int) int64 {
	return index*BitsPerField + int64(bit)
}

// EachSeq calls fn with every sequence whose bit is set in word, a value of
// the field with the given index, in increasing order.
func EachSeq(index int64, word uint64, fn func(seq int64)) {
	for word != 0 {
		bit := bits.TrailingZeros64(word)
		word &= word - 1
		fn(SeqAt(index, bit))
	}
}
