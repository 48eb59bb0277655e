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
	return FieldKey(seq / BitsPerField), 1 << uint(seq%BitsPerField), nil
}

// FieldKey returns the name of the field of the given index: its index in
// lower-case hexadecimal, with no prefix or leading zero.
func FieldKey(index int64) string {
	return strconv.FormatInt(index, 16)
}

// maxFieldDigits is the longest name the fast readers take: as many
// digits as a 64-bit word has. FieldKey writes at most 15, the digits of
// MaxFieldIndex.
const maxFieldDigits = 16

// Spelling is what a reader of field names takes beyond what FieldKey
// writes, lower-case hexadecimal digits with no sign or prefix. Each
// reader takes a fixed set of spellings, and the sets nest: a name that
// one reader takes names the same index for every reader that takes it
// too.
type Spelling uint8

const (
	// AsWritten takes names of at most 16 digits as FieldKey writes them,
	// leading zeros included. A batcher takes pings so: it writes them
	// under the index's own name, and nothing but digits reaches an
	// update's paths.
	AsWritten Spelling = 0
	// UpperCase also takes the digits A to F, as Juju's reader does.
	UpperCase Spelling = 1 << 0
	// ZeroPadded also takes names longer than 16 digits whose extra
	// digits are leading zeros, as Juju's reader does.
	ZeroPadded Spelling = 1 << 1
)

// FieldFault is why a field name names no index, or FieldOK.
type FieldFault uint8

const (
	// FieldOK: the name names an index.
	FieldOK FieldFault = iota
	// FieldEmpty: the name has no digit.
	FieldEmpty
	// FieldTooLong: more than 16 digits, where the spelling does not take
	// leading zeros beyond them.
	FieldTooLong
	// FieldNotHex: a character that is not a digit of the spelling.
	FieldNotHex
	// FieldBeyond: an index past MaxFieldIndex, whose sequences would not
	// all fit in an int64.
	FieldBeyond
)

// ParseField returns the index a field name names, reading it as spelling
// allows, or why it names none. It reads a string (a pinger's field key)
// or the bytes of a document's element name alike, and allocates nothing.
//
// Ping and the fast decoder of a part call it for every field: its body
// stays within what the compiler inlines ("inlining call to
// layout.ParseField" in go build -gcflags=-m ./liveness).
func ParseField[Name string | []byte](name Name, spelling Spelling) (index int64, fault FieldFault) {
	if len(name) == 0 {
		return 0, FieldEmpty
	}
	if len(name) > maxFieldDigits && spelling&ZeroPadded == 0 {
		return 0, FieldTooLong
	}
	digits := &hexDigits[spelling&UpperCase]
	var n uint64
	for i := range len(name) {
		d := digits[name[i]]
		if d == notDigit {
			return 0, FieldNotHex
		}
		// Past MaxFieldIndex a number only grows with more digits: hold
		// it just past, so that it cannot overflow.
		n = min(n, MaxFieldIndex+1)<<4 | uint64(d)
	}
	if n > MaxFieldIndex {
		return 0, FieldBeyond
	}
	return int64(n), FieldOK
}

// hexDigits holds the value of every byte as a hexadecimal digit, or
// notDigit, indexed by spelling&UpperCase (bit 0): lower-case digits
// alone, then upper-case ones too.
var hexDigits = [2][256]byte{digitValues(false), digitValues(true)}

const notDigit = 0xff

func digitValues(upperCase bool) [256]byte {
	var values [256]byte
	for c := range values {
		switch {
		case '0' <= c && c <= '9':
			values[c] = byte(c - '0')
		case 'a' <= c && c <= 'f':
			values[c] = byte(c - 'a' + 10)
		case upperCase && 'A' <= c && c <= 'F':
			values[c] = byte(c - 'A' + 10)
		default:
			values[c] = notDigit
		}
	}
	return values
}

// ParseFieldKey returns the index named by a field name as Juju's reader
// takes it (UpperCase and ZeroPadded), or an error that says why it names
// none: signs, prefixes, empty names and indexes whose sequences would
// overflow are refused.
func ParseFieldKey(fieldKey string) (int64, error) {
	index, fault := ParseField(fieldKey, UpperCase|ZeroPadded)
	switch fault {
	case FieldOK:
		return index, nil
	case FieldEmpty:
		return 0, fmt.Errorf("empty field name")
	case FieldNotHex:
		return 0, fmt.Errorf("field name %q is not hexadecimal", fieldKey)
	}
	return 0, fmt.Errorf("field name %q is out of range", fieldKey)
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
