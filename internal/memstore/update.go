package memstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/presence-go/presence/internal/bsonraw"
	"github.com/presence-go/presence/liveness"
)

// This file applies the engine's updates to a document's bytes as the
// test server (FerretDB) and MongoDB 5.0 and later do, with no lock, clock
// or goroutine. Fields already in a document keep their place; fields an
// update creates follow them, in the byte order of their names (MongoDB
// orders names made only of digits by their number instead; the engine
// reads fields by name, so the order matters only to whoever compares
// bytes). An update that cannot apply to a document fails whole and leaves
// it as it was.

// errNotIntegral and errNotNumeric are the servers' complaints about a
// field that $bit or $inc cannot change.
var (
	errNotIntegral = errors.New("cannot apply $bit to a value of non-integral type")
	errNotNumeric  = errors.New("cannot apply $inc to a value of non-numeric type")
	errOverflow    = errors.New("$inc would overflow a 64-bit integer")
)

// orSlot returns the slot document doc with w applied: its slot field set
// to w.Slot and w's bits ORed into its alive and dead fields, each an
// int64. A nil doc is a missing document, which the upsert creates with
// the _id id.
func orSlot(doc []byte, id string, w liveness.SlotWrite) ([]byte, error) {
	changes := []fieldChange{{name: "slot", set: int64Element("slot", w.Slot)}}
	if len(w.Alive) > 0 {
		changes = append(changes, fieldChange{name: "alive", or: orsOf(w.Alive)})
	}
	if len(w.Dead) > 0 {
		changes = append(changes, fieldChange{name: "dead", or: orsOf(w.Dead)})
	}
	slices.SortFunc(changes, func(a, b fieldChange) int { return compareNames(a.name, b.name) })
	if doc == nil {
		doc = newDoc(id)
	}
	return applyChanges(doc, changes)
}

// fieldChange is what an update does to one top-level field: set it to
// set, or OR the bits of or into the int64 fields of the document it
// holds.
type fieldChange struct {
	name string
	set  *bsonraw.Element
	or   []fieldBits
}

// fieldBits is the bits to OR into one field of an alive or dead document.
type fieldBits struct {
	name string
	bits int64
}

// orsOf returns the bits to OR into each field named in fields, in the
// byte order of the names, those of a field named twice ORed together.
func orsOf(fields []liveness.FieldBits) []fieldBits {
	byName := make(map[string]int64, len(fields))
	for _, f := range fields {
		byName[f.Field] |= int64(f.Bits)
	}
	ors := make([]fieldBits, 0, len(byName))
	for name, bits := range byName {
		ors = append(ors, fieldBits{name, bits})
	}
	slices.SortFunc(ors, func(a, b fieldBits) int { return compareNames(a.name, b.name) })
	return ors
}

// compareNames orders field names as the test server creates them: by
// their bytes.
func compareNames(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// applyChanges returns doc with changes, sorted by name, applied: each to
// the first field of its name in place, or to a new field after the
// others.
func applyChanges(doc []byte, changes []fieldChange) ([]byte, error) {
	done := make([]bool, len(changes))
	var b bsonraw.Builder
	it := bsonraw.NewIter(doc)
	for it.Next() {
		e := it.Element()
		i := slices.IndexFunc(changes, func(c fieldChange) bool { return c.name == string(e.Name) })
		if i < 0 || done[i] {
			b.Element(e)
			continue
		}
		done[i] = true
		changed, err := changes[i].apply(e, true)
		if err != nil {
			return nil, err
		}
		b.Element(changed)
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("corrupt document: %w", err)
	}
	for i, c := range changes {
		if !done[i] {
			created, err := c.apply(bsonraw.Element{Name: []byte(c.name)}, false)
			if err != nil {
				return nil, err
			}
			b.Element(created)
		}
	}
	return b.Bytes(), nil
}

// apply returns e, the field c changes, changed; a field that is not
// there yet (found unset) is created.
func (c fieldChange) apply(e bsonraw.Element, found bool) (bsonraw.Element, error) {
	if c.set != nil {
		return *c.set, nil
	}
	var sub []byte
	if found {
		var ok bool
		if sub, ok = e.Doc(); !ok {
			return bsonraw.Element{}, fmt.Errorf("cannot create field %q in element {%s: %s}", c.or[0].name, e.Name, e.Describe())
		}
	} else {
		sub = emptyDoc()
	}
	ored, err := orFields(sub, c.name, c.or)
	if err != nil {
		return bsonraw.Element{}, err
	}
	return bsonraw.Element{Type: bsonraw.TypeDocument, Name: e.Name, Value: ored}, nil
}

// orFields returns the document sub, the part called part of a slot
// document, with each field of ors ORed with its bits into an int64, and
// the fields missing created. An int32 field becomes an int64, as on the
// servers; a field of another type fails the update.
func orFields(sub []byte, part string, ors []fieldBits) ([]byte, error) {
	done := make([]bool, len(ors))
	var b bsonraw.Builder
	it := bsonraw.NewIter(sub)
	for it.Next() {
		e := it.Element()
		i := slices.IndexFunc(ors, func(f fieldBits) bool { return f.name == string(e.Name) })
		if i < 0 || done[i] {
			b.Element(e)
			continue
		}
		done[i] = true
		v, ok := e.Int64()
		if !ok {
			return nil, fmt.Errorf("%w: field %s.%s is %s", errNotIntegral, part, e.Name, bsonraw.TypeName(e.Type))
		}
		b.Int64(ors[i].name, v|ors[i].bits)
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("corrupt %s document: %w", part, err)
	}
	for i, f := range ors {
		if !done[i] {
			b.Int64(f.name, f.bits)
		}
	}
	return b.Bytes(), nil
}

// incSeq returns the sequence counter doc with its seq field incremented,
// and the new value: a nil doc is a missing counter, which the upsert
// creates with the _id id and seq 1. An int32 seq becomes an int64, as on
// the servers; a double stays one, and its value is taken when it is a
// whole number, as the drivers decode it.
func incSeq(doc []byte, id string) ([]byte, int64, error) {
	if doc == nil {
		doc = newDoc(id)
	}
	var seq int64
	found := false
	var b bsonraw.Builder
	it := bsonraw.NewIter(doc)
	for it.Next() {
		e := it.Element()
		if found || string(e.Name) != "seq" {
			b.Element(e)
			continue
		}
		found = true
		switch e.Type {
		case bsonraw.TypeInt32, bsonraw.TypeInt64:
			v, _ := e.Int64()
			if v == math.MaxInt64 {
				return nil, 0, errOverflow
			}
			seq = v + 1
			b.Int64("seq", seq)
		case bsonraw.TypeDouble:
			f := math.Float64frombits(binary.LittleEndian.Uint64(e.Value)) + 1
			if f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
				return nil, 0, fmt.Errorf("seq %v is not a whole int64", f)
			}
			seq = int64(f)
			b.Element(bsonraw.Element{Type: bsonraw.TypeDouble, Name: e.Name, Value: binary.LittleEndian.AppendUint64(nil, math.Float64bits(f))})
		default:
			return nil, 0, fmt.Errorf("%w: seq is %s", errNotNumeric, bsonraw.TypeName(e.Type))
		}
	}
	if err := it.Err(); err != nil {
		return nil, 0, fmt.Errorf("corrupt document: %w", err)
	}
	if !found {
		seq = 1
		b.Int64("seq", seq)
	}
	return b.Bytes(), seq, nil
}

// beingDoc returns the being document InsertBeing writes.
func beingDoc(id string, seq int64, key string) []byte {
	var b bsonraw.Builder
	b.String("_id", id)
	b.Int64("seq", seq)
	b.String("key", key)
	return b.Bytes()
}

// projectBeing returns doc with only its _id, seq and key fields, in their
// order, as the adapters' projection has the servers return it. A
// document that has only those is returned as it is.
func projectBeing(doc []byte) []byte {
	kept, all := 0, 0
	it := bsonraw.NewIter(doc)
	for it.Next() {
		all++
		if isBeingField(it.Element().Name) {
			kept++
		}
	}
	if kept == all || it.Err() != nil {
		return doc
	}
	var b bsonraw.Builder
	it = bsonraw.NewIter(doc)
	for it.Next() {
		if e := it.Element(); isBeingField(e.Name) {
			b.Element(e)
		}
	}
	return b.Bytes()
}

func isBeingField(name []byte) bool {
	switch string(name) {
	case "_id", "seq", "key":
		return true
	}
	return false
}

// newDoc returns the document {_id: id}, which an upsert starts from.
func newDoc(id string) []byte {
	var b bsonraw.Builder
	b.String("_id", id)
	return b.Bytes()
}

// emptyDoc returns the document {}.
func emptyDoc() []byte {
	var b bsonraw.Builder
	return b.Bytes()
}

// int64Element returns an int64 element.
func int64Element(name string, v int64) *bsonraw.Element {
	return &bsonraw.Element{Type: bsonraw.TypeInt64, Name: []byte(name), Value: binary.LittleEndian.AppendUint64(nil, uint64(v))}
}

// idOf returns doc's _id when it is a string.
func idOf(doc []byte) (string, error) {
	e, found, err := bsonraw.Lookup(doc, "_id")
	switch {
	case err != nil:
		return "", err
	case !found:
		return "", errors.New("document has no _id")
	}
	id, ok := e.Str()
	if !ok {
		return "", fmt.Errorf("_id is %s; the store holds string ids only", bsonraw.TypeName(e.Type))
	}
	return id, nil
}

// slotBelow and slotFrom tell whether doc's slot field is a number below
// before, or at least from, as the servers compare numbers of any type: a
// document whose slot is missing or not a number matches neither.
func slotBelow(doc []byte, before int64) bool {
	c, ok := compareSlot(doc, before)
	return ok && c < 0
}

func slotFrom(doc []byte, from int64) bool {
	c, ok := compareSlot(doc, from)
	return ok && c >= 0
}

// compareSlot compares doc's slot field with n: -1, 0 or 1, and false
// when the field is missing or not a number.
func compareSlot(doc []byte, n int64) (int, bool) {
	e, found, err := bsonraw.Lookup(doc, "slot")
	if err != nil || !found {
		return 0, false
	}
	if v, ok := e.Int64(); ok {
		return compareInts(v, n), true
	}
	if e.Type != bsonraw.TypeDouble {
		return 0, false
	}
	f := math.Float64frombits(binary.LittleEndian.Uint64(e.Value))
	switch {
	case math.IsNaN(f):
		return 0, false
	case f < float64(n):
		return -1, true
	case f > float64(n):
		return 1, true
	}
	return 0, true
}

func compareInts(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
