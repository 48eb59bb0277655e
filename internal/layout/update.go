package layout

import "github.com/presence-go/presence/internal/bsonraw"

// FieldBits is the bits of one field of a slot document: sequence n is bit
// n%63 of field hex(n/63).
type FieldBits struct {
	Field string
	Bits  uint64
}

// SlotUpdate returns the update that ORs bits into the slot document of
// slot, as BSON bytes: {$set: {slot: slot}, $bit: {"alive.<Field>": {or:
// Bits}, "dead.<Field>": {or: Bits}}}, every number an int64, the alive
// fields first, each part's in the order given. Stores send it as it is,
// so that every face writes the same update.
func SlotUpdate(slot int64, alive, dead []FieldBits) []byte {
	var b bsonraw.Builder
	b.Begin("$set")
	b.Int64("slot", slot)
	b.End()
	b.Begin("$bit")
	for _, part := range []struct {
		name   string
		fields []FieldBits
	}{{"alive.", alive}, {"dead.", dead}} {
		for _, f := range part.fields {
			b.Begin(part.name + f.Field)
			b.Int64("or", int64(f.Bits))
			b.End()
		}
	}
	b.End()
	return b.Bytes()
}
