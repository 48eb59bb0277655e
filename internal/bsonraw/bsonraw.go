// Package bsonraw reads BSON documents from their bytes, as either MongoDB
// driver hands them over, without decoding values the reader does not ask
// for and without allocating.
//
// Presence reads documents that anyone may have written, so every length is
// checked against the bytes that hold it and nothing here panics on any
// input: a malformed document ends the iteration with an error that says
// where it went wrong. A Builder writes documents element by element. The
// package knows nothing of drivers or of the presence data model, which
// package layout lays out; the test bridge walks the commands it rewrites
// with it too.
package bsonraw

import (
	"encoding/binary"
	"fmt"
	"math"
)

// BSON element types that presence's documents, or the commands the test
// bridge rewrites, hold; the others are skipped over by size.
const (
	TypeDouble   byte = 0x01
	TypeString   byte = 0x02
	TypeDocument byte = 0x03
	TypeArray    byte = 0x04
	TypeBool     byte = 0x08
	TypeDateTime byte = 0x09
	TypeNull     byte = 0x0A
	TypeInt32    byte = 0x10
	TypeInt64    byte = 0x12
)

// Element is one element of a document: its type, its name and the bytes
// of its value, all pointing into the document.
type Element struct {
	Type  byte
	Name  []byte
	Value []byte
}

// Int64 returns the value of an int32 or int64 element.
func (e Element) Int64() (int64, bool) {
	switch e.Type {
	case TypeInt32:
		return int64(int32(binary.LittleEndian.Uint32(e.Value))), true
	case TypeInt64:
		return int64(binary.LittleEndian.Uint64(e.Value)), true
	}
	return 0, false
}

// Str returns the value of a string element, without its terminating NUL.
func (e Element) Str() (string, bool) {
	b, ok := e.StrBytes()
	return string(b), ok
}

// StrBytes returns the bytes of a string element, without its terminating
// NUL, pointing into the document: reading it makes no string.
func (e Element) StrBytes() ([]byte, bool) {
	if e.Type != TypeString {
		return nil, false
	}
	return e.Value[4 : len(e.Value)-1], true
}

// Doc returns the bytes of an embedded document.
func (e Element) Doc() ([]byte, bool) {
	if e.Type != TypeDocument {
		return nil, false
	}
	return e.Value, true
}

// Describe renders the value for messages: numbers and strings as they
// are, other types by name.
func (e Element) Describe() string {
	switch e.Type {
	case TypeInt32, TypeInt64:
		n, _ := e.Int64()
		return fmt.Sprintf("%d (%s)", n, TypeName(e.Type))
	case TypeString:
		s, _ := e.Str()
		return fmt.Sprintf("%q (string)", s)
	case TypeDouble:
		return fmt.Sprintf("%v (double)", math.Float64frombits(binary.LittleEndian.Uint64(e.Value)))
	}
	return "a value of type " + TypeName(e.Type)
}

// TypeName names a BSON element type for messages.
func TypeName(t byte) string {
	switch t {
	case TypeDouble:
		return "double"
	case TypeString:
		return "string"
	case TypeDocument:
		return "document"
	case TypeArray:
		return "array"
	case 0x05:
		return "binary"
	case 0x06:
		return "undefined"
	case 0x07:
		return "objectId"
	case TypeBool:
		return "bool"
	case TypeDateTime:
		return "date"
	case TypeNull:
		return "null"
	case 0x0B:
		return "regex"
	case 0x0D:
		return "javascript"
	case TypeInt32:
		return "int32"
	case 0x11:
		return "timestamp"
	case TypeInt64:
		return "int64"
	case 0x13:
		return "decimal128"
	}
	return fmt.Sprintf("type %#x", t)
}

// Iter walks the elements of one document:
//
//	it := bsonraw.NewIter(doc)
//	for it.Next() {
//		e := it.Element()
//		...
//	}
//	if err := it.Err(); err != nil { ... }
type Iter struct {
	rest []byte // the elements not read yet, without the final NUL
	cur  Element
	err  error
}

// NewIter returns an iterator over the elements of doc. A doc whose length
// prefix does not match its bytes gives no element and an error.
func NewIter(doc []byte) Iter {
	if len(doc) < 5 {
		return Iter{err: fmt.Errorf("document of %d bytes is shorter than an empty one", len(doc))}
	}
	if n := binary.LittleEndian.Uint32(doc); int64(n) != int64(len(doc)) {
		return Iter{err: fmt.Errorf("document says it has %d bytes but has %d", n, len(doc))}
	}
	if doc[len(doc)-1] != 0 {
		return Iter{err: fmt.Errorf("document does not end with a NUL byte")}
	}
	return Iter{rest: doc[4 : len(doc)-1]}
}

// Next moves to the next element; it returns false at the end of the
// document or at the first malformed element.
func (it *Iter) Next() bool {
	if it.err != nil || len(it.rest) == 0 {
		return false
	}
	data := it.rest
	typ := data[0]
	data = data[1:]
	nameEnd := indexNUL(data)
	if nameEnd < 0 {
		it.err = fmt.Errorf("element name without an end")
		return false
	}
	name := data[:nameEnd]
	data = data[nameEnd+1:]
	size, err := valueSize(typ, data)
	if err != nil {
		it.err = fmt.Errorf("element %q: %w", name, err)
		return false
	}
	it.cur = Element{Type: typ, Name: name, Value: data[:size]}
	it.rest = data[size:]
	return true
}

// Element returns the element Next moved to.
func (it *Iter) Element() Element { return it.cur }

// Err returns what stopped the iteration early, if anything did.
func (it *Iter) Err() error { return it.err }

// Lookup returns the first element of doc called name.
func Lookup(doc []byte, name string) (Element, bool, error) {
	it := NewIter(doc)
	for it.Next() {
		if e := it.Element(); string(e.Name) == name {
			return e, true, nil
		}
	}
	return Element{}, false, it.Err()
}

// Validate checks that doc and every document and array in it are well
// framed.
func Validate(doc []byte) error {
	return validate(doc, 0)
}

// maxDepth bounds the nesting Validate follows, far beyond what MongoDB
// stores (100 levels).
const maxDepth = 200

func validate(doc []byte, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("documents nested deeper than %d", maxDepth)
	}
	it := NewIter(doc)
	for it.Next() {
		e := it.Element()
		if e.Type == TypeDocument || e.Type == TypeArray {
			if err := validate(e.Value, depth+1); err != nil {
				return fmt.Errorf("element %q: %w", e.Name, err)
			}
		}
	}
	return it.Err()
}

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

// valueSize returns how many bytes of data the value of an element of type
// typ takes, checking that they are there.
func valueSize(typ byte, data []byte) (int, error) {
	fixed := func(n int) (int, error) {
		if len(data) < n {
			return 0, fmt.Errorf("%s value cut short", TypeName(typ))
		}
		return n, nil
	}
	// prefixed is a value that starts with its own int32 length, counting
	// itself (documents, arrays, code with scope) or not (strings and
	// binaries: extra is what follows the counted bytes' prefix).
	prefixed := func(extra int, countsItself bool) (int, error) {
		if len(data) < 4 {
			return 0, fmt.Errorf("%s value cut short", TypeName(typ))
		}
		n := int64(binary.LittleEndian.Uint32(data))
		total := n
		if !countsItself {
			total = 4 + int64(extra) + n
		}
		if n > math.MaxInt32 || total < 5 && countsItself || total > int64(len(data)) {
			return 0, fmt.Errorf("%s value of %d bytes does not fit", TypeName(typ), n)
		}
		return int(total), nil
	}
	switch typ {
	case TypeDouble, TypeDateTime, 0x11, TypeInt64: // double, date, timestamp, int64
		return fixed(8)
	case TypeString, 0x0D, 0x0E: // string, javascript, symbol
		size, err := prefixed(0, false)
		if err != nil {
			return 0, err
		}
		if size == 4 || data[size-1] != 0 {
			return 0, fmt.Errorf("%s value does not end with a NUL byte", TypeName(typ))
		}
		return size, nil
	case TypeDocument, TypeArray, 0x0F: // document, array, code with scope
		return prefixed(0, true)
	case 0x05: // binary: length, subtype, bytes
		return prefixed(1, false)
	case 0x06, TypeNull, 0x7F, 0xFF: // undefined, null, max key, min key
		return 0, nil
	case 0x07: // objectId
		return fixed(12)
	case TypeBool:
		return fixed(1)
	case 0x0B: // regex: two C strings
		first := indexNUL(data)
		if first < 0 {
			return 0, fmt.Errorf("regex value cut short")
		}
		second := indexNUL(data[first+1:])
		if second < 0 {
			return 0, fmt.Errorf("regex value cut short")
		}
		return first + 1 + second + 1, nil
	case 0x0C: // DBPointer: string, then a 12-byte id
		size, err := prefixed(12, false)
		if err != nil {
			return 0, err
		}
		return size, nil
	case TypeInt32:
		return fixed(4)
	case 0x13: // decimal128
		return fixed(16)
	}
	return 0, fmt.Errorf("unknown element type %#x", typ)
}
