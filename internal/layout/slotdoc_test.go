package layout

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestIsDocIDMatchesDocID checks the comparison that spares a cold start
// building every being's _id against the _id it would build.
func TestIsDocIDMatchesDocID(t *testing.T) {
	const model = "0b5e4c1a-2d7f-4b6e-9c3a-8f1e2d3c4b5a"
	for _, seq := range []int64{0, 1, 9, 10, 63, 1000000, -1, 1<<63 - 1, -1 << 63} {
		id := DocID(model, seq)
		if !isDocID([]byte(id), model, seq) {
			t.Errorf("isDocID(%q, %d) = false", id, seq)
		}
		for _, other := range []string{
			DocID(model, seq+1),
			DocID(model[1:]+"0", seq),
			model + ";" + id[len(model)+1:],
			id + "0",
			id[:len(id)-1],
			model,
			model + ":",
			"",
		} {
			if other != id && isDocID([]byte(other), model, seq) {
				t.Errorf("isDocID(%q, %d) = true", other, seq)
			}
		}
	}
}

// TestDecodeBeingLeavesOutUnwantedKeys checks that a being the caller
// does not want still has its sequence checked and returned, without its
// key, and that a corrupt one is described by its _id only then.
func TestDecodeBeingLeavesOutUnwantedKeys(t *testing.T) {
	const model = "m"
	being := func(id string, seq int64, key string) []byte {
		doc, err := bson.Marshal(bson.D{{Key: "_id", Value: id}, {Key: "seq", Value: seq}, {Key: "key", Value: key}})
		if err != nil {
			t.Fatal(err)
		}
		return doc
	}
	none := func(int64) bool { return false }
	id, seq, key, err := DecodeBeing(being("m:7", 7, "unit-a/0"), model, none)
	if err != nil || seq != 7 || key != "" || id != "" {
		t.Fatalf("unwanted being: id %q seq %d key %q err %v", id, seq, key, err)
	}
	id, seq, key, err = DecodeBeing(being("m:7", 7, "unit-a/0"), model, nil)
	if err != nil || seq != 7 || key != "unit-a/0" || id != "" {
		t.Fatalf("wanted being: id %q seq %d key %q err %v", id, seq, key, err)
	}
	id, _, _, err = DecodeBeing(being("m:8", 7, "unit-a/0"), model, none)
	if err == nil || id != `"m:8"` {
		t.Fatalf("mismatched _id: id %q err %v", id, err)
	}
}
