package layout

import (
	"bytes"
	"testing"

	"github.com/juju/mgo/v2/bson"
)

// TestSlotUpdateIsTheDriversUpdate checks the bytes of a slot write's
// update against the update document a driver encodes from the same
// values: every face sends them as they are.
func TestSlotUpdateIsTheDriversUpdate(t *testing.T) {
	or := func(bits int64) bson.D { return bson.D{{Name: "or", Value: bits}} }
	for _, c := range []struct {
		name        string
		alive, dead []FieldBits
		bit         bson.D
	}{
		{"nothing", nil, nil, bson.D{}},
		{"alive", []FieldBits{{"0", 1}, {"a", 1 << 62}}, nil,
			bson.D{{Name: "alive.0", Value: or(1)}, {Name: "alive.a", Value: or(1 << 62)}}},
		{"dead", nil, []FieldBits{{"3e8", 6}}, bson.D{{Name: "dead.3e8", Value: or(6)}}},
		{"both, in the order given", []FieldBits{{"2", 8}, {"1", 2}}, []FieldBits{{"1", 2}},
			bson.D{{Name: "alive.2", Value: or(8)}, {Name: "alive.1", Value: or(2)}, {Name: "dead.1", Value: or(2)}}},
	} {
		want, err := bson.Marshal(bson.D{
			{Name: "$set", Value: bson.D{{Name: "slot", Value: int64(1_700_000_010)}}},
			{Name: "$bit", Value: c.bit},
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := SlotUpdate(1_700_000_010, c.alive, c.dead); !bytes.Equal(got, want) {
			t.Errorf("%s: update %x, want %x", c.name, got, want)
		}
	}
}
