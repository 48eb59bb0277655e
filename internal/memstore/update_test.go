package memstore

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/presence-go/presence/liveness"
)

// The conformance suite (package storetest) checks the updates against the
// test server; these tests check what it cannot make the engine write.

func marshal(t *testing.T, doc bson.D) []byte {
	t.Helper()
	b, err := bson.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestIncSeq(t *testing.T) {
	for _, c := range []struct {
		name    string
		doc     []byte
		want    []byte
		wantSeq int64
		wantErr string
	}{
		{
			name:    "missing counter",
			want:    marshal(t, bson.D{{Key: "_id", Value: "m:beings"}, {Key: "seq", Value: int64(1)}}),
			wantSeq: 1,
		},
		{
			name:    "counter without seq",
			doc:     marshal(t, bson.D{{Key: "_id", Value: "m:beings"}, {Key: "x", Value: "y"}}),
			want:    marshal(t, bson.D{{Key: "_id", Value: "m:beings"}, {Key: "x", Value: "y"}, {Key: "seq", Value: int64(1)}}),
			wantSeq: 1,
		},
		{
			name:    "double",
			doc:     marshal(t, bson.D{{Key: "_id", Value: "m:beings"}, {Key: "seq", Value: 6.0}}),
			want:    marshal(t, bson.D{{Key: "_id", Value: "m:beings"}, {Key: "seq", Value: 7.0}}),
			wantSeq: 7,
		},
		{
			name:    "fraction",
			doc:     marshal(t, bson.D{{Key: "_id", Value: "m:beings"}, {Key: "seq", Value: 6.5}}),
			wantErr: "not a whole int64",
		},
		{
			name:    "string",
			doc:     marshal(t, bson.D{{Key: "_id", Value: "m:beings"}, {Key: "seq", Value: "7"}}),
			wantErr: "non-numeric",
		},
		{
			name:    "largest int64",
			doc:     marshal(t, bson.D{{Key: "_id", Value: "m:beings"}, {Key: "seq", Value: int64(math.MaxInt64)}}),
			wantErr: "overflow",
		},
		{
			name:    "malformed",
			doc:     []byte{12, 0, 0, 0, 0x12, 's', 0, 1, 0, 0, 0, 0},
			wantErr: "corrupt",
		},
	} {
		got, seq, err := incSeq(c.doc, "m:beings")
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) || got != nil {
				t.Errorf("%s: got %x, %v; want an error about %q", c.name, got, err, c.wantErr)
			}
			continue
		}
		if err != nil || seq != c.wantSeq || !bytes.Equal(got, c.want) {
			t.Errorf("%s: got %s, %d, %v; want %s, %d", c.name, bson.Raw(got), seq, err, bson.Raw(c.want), c.wantSeq)
		}
	}
}

// TestOrSlotRefusals writes into documents that cannot take the write: the
// errors say why, and name the field.
func TestOrSlotRefusals(t *testing.T) {
	w := liveness.SlotWrite{ModelUUID: "m", Slot: 30, Alive: []liveness.FieldBits{{Field: "a", Bits: 1}}}
	for _, c := range []struct {
		name    string
		doc     bson.D
		wantErr string
	}{
		{"alive is a number", bson.D{{Key: "_id", Value: "m:30"}, {Key: "alive", Value: int64(5)}}, `cannot create field "a" in element {alive: 5 (int64)}`},
		{"alive.a is a double", bson.D{{Key: "_id", Value: "m:30"}, {Key: "alive", Value: bson.D{{Key: "a", Value: 1.0}}}}, "field alive.a is double"},
	} {
		got, err := orSlot(marshal(t, c.doc), "m:30", w)
		if err == nil || !strings.Contains(err.Error(), c.wantErr) || got != nil {
			t.Errorf("%s: got %x, %v; want an error about %q", c.name, got, err, c.wantErr)
		}
	}
	_, err := orSlot(marshal(t, bson.D{{Key: "_id", Value: "m:30"}, {Key: "alive", Value: bson.D{{Key: "a", Value: "x"}}}}), "m:30", w)
	if !errors.Is(err, errNotIntegral) {
		t.Errorf("a string field: got %v, want errNotIntegral", err)
	}
}

// TestOrSlotMergesAFieldNamedTwice writes one field twice in one write,
// which the engine never does: the bits of both are ORed in.
func TestOrSlotMergesAFieldNamedTwice(t *testing.T) {
	w := liveness.SlotWrite{ModelUUID: "m", Slot: 30, Dead: []liveness.FieldBits{{Field: "a", Bits: 1}, {Field: "a", Bits: 4}}}
	got, err := orSlot(nil, "m:30", w)
	want := marshal(t, bson.D{{Key: "_id", Value: "m:30"}, {Key: "dead", Value: bson.D{{Key: "a", Value: int64(5)}}}, {Key: "slot", Value: int64(30)}})
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("got %s, %v; want %s", bson.Raw(got), err, bson.Raw(want))
	}
}

// TestProjectBeingKeepsAnExactDocument checks that a being of _id, seq and
// key alone is handed over as stored, with no copy.
func TestProjectBeingKeepsAnExactDocument(t *testing.T) {
	doc := beingDoc("m:1", 1, "k")
	if got := projectBeing(doc); &got[0] != &doc[0] {
		t.Error("a being of _id, seq and key was copied")
	}
}

func TestCompareSlot(t *testing.T) {
	for _, c := range []struct {
		slot     any
		n        int64
		want     int
		ordinary bool
	}{
		{int64(30), 30, 0, true},
		{int32(29), 30, -1, true},
		{30.5, 30, 1, true},
		{math.NaN(), 30, 0, false},
		{"30", 30, 0, false},
		{nil, 30, 0, false},
	} {
		doc := bson.D{{Key: "_id", Value: "m:30"}}
		if c.slot != nil {
			doc = append(doc, bson.E{Key: "slot", Value: c.slot})
		}
		got, ok := compareSlot(marshal(t, doc), c.n)
		if got != c.want || ok != c.ordinary {
			t.Errorf("slot %v against %d: %d, %v; want %d, %v", c.slot, c.n, got, ok, c.want, c.ordinary)
		}
	}
}

// TestCollectionKeepsItsIndex puts and removes ids in and out of order and
// checks that ranges read them in order, each once.
func TestCollectionKeepsItsIndex(t *testing.T) {
	c := newCollection()
	scan := func(from, before string) string {
		var ids []string
		c.scan(from, before, func(id string, _ []byte) bool {
			ids = append(ids, id)
			return true
		})
		return strings.Join(ids, " ")
	}
	for _, id := range []string{"m:1", "m:2", "m:3"} {
		c.put(id, []byte(id))
	}
	if !c.sorted {
		t.Error("ids put in order were sorted again")
	}
	c.put("m:10", nil) // before m:2
	c.put("m:2", []byte("again"))
	if got := scan("m:", "m;"); got != "m:1 m:10 m:2 m:3" {
		t.Errorf("scan = %q", got)
	}
	c.remove("m:2")
	c.put("m:4", nil)
	if got := scan("m:1\x00", "m:3"); got != "m:10" {
		t.Errorf("scan after m:1 and before m:3 = %q", got)
	}
	c.put("m:2", nil) // removed, then put again
	for _, id := range []string{"m:1", "m:10", "m:3", "m:4"} {
		c.remove(id)
	}
	if got := scan("", "\xff"); got != "m:2" {
		t.Errorf("scan of everything = %q", got)
	}
	if n := len(c.all()); n != 1 || len(c.ids) != 1 {
		t.Errorf("all = %d documents, %d ids indexed; want 1 and 1", n, len(c.ids))
	}
}
