package bsonraw

import (
	"encoding/binary"
	"math"
)

// Builder writes one BSON document, element by element, with embedded
// documents opened by Begin and closed by End:
//
//	var b bsonraw.Builder
//	b.Begin("$set")
//	b.Int64("slot", 30)
//	b.End()
//	doc := b.Bytes()
//
// Names must not hold a NUL byte; the callers' names are their own.
type Builder struct {
	buf  []byte
	open []int // where each open document's length goes, the outermost first
}

func (b *Builder) start() {
	if b.open == nil {
		b.open = []int{0}
		b.buf = append(b.buf[:0], 0, 0, 0, 0)
	}
}

// head writes the type and the name of an element, whose value follows.
func (b *Builder) head(typ byte, name string) {
	b.start()
	b.buf = append(b.buf, typ)
	b.buf = append(b.buf, name...)
	b.buf = append(b.buf, 0)
}

// Begin opens an embedded document called name.
func (b *Builder) Begin(name string) {
	b.head(TypeDocument, name)
	b.open = append(b.open, len(b.buf))
	b.buf = append(b.buf, 0, 0, 0, 0)
}

// End closes the innermost open embedded document.
func (b *Builder) End() {
	at := b.open[len(b.open)-1]
	b.open = b.open[:len(b.open)-1]
	b.buf = append(b.buf, 0)
	binary.LittleEndian.PutUint32(b.buf[at:], uint32(len(b.buf)-at))
}

// Int64 writes an int64 element.
func (b *Builder) Int64(name string, v int64) {
	b.head(TypeInt64, name)
	b.buf = binary.LittleEndian.AppendUint64(b.buf, uint64(v))
}

// Int32 writes an int32 element.
func (b *Builder) Int32(name string, v int32) {
	b.head(TypeInt32, name)
	b.buf = binary.LittleEndian.AppendUint32(b.buf, uint32(v))
}

// Double writes a double element.
func (b *Builder) Double(name string, v float64) {
	b.head(TypeDouble, name)
	b.buf = binary.LittleEndian.AppendUint64(b.buf, math.Float64bits(v))
}

// Bytes closes every open document and returns the whole.
func (b *Builder) Bytes() []byte {
	b.start()
	for len(b.open) > 1 {
		b.End()
	}
	b.buf = append(b.buf, 0)
	binary.LittleEndian.PutUint32(b.buf, uint32(len(b.buf)))
	b.open = nil
	return b.buf
}

// String writes a string element.
func (b *Builder) String(name, v string) {
	b.head(TypeString, name)
	b.buf = binary.LittleEndian.AppendUint32(b.buf, uint32(len(v)+1))
	b.buf = append(b.buf, v...)
	b.buf = append(b.buf, 0)
}

// Element writes e as it is, under its own name: an element copied from
// another document. e's value must be well framed, as an Iter hands it
// over.
func (b *Builder) Element(e Element) {
	b.start()
	b.buf = append(b.buf, e.Type)
	b.buf = append(b.buf, e.Name...)
	b.buf = append(b.buf, 0)
	b.buf = append(b.buf, e.Value...)
}
