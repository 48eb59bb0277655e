package layout

import (
	"fmt"

	"github.com/presence-go/presence/internal/bsonraw"
)

// DecodeBeing reads a being document of modelUUID: its sequence and key,
// checked against its _id. When wanted says a sequence is of no interest,
// its key is left out and no string is made for it: a cold start reads
// every being of a large model. id describes the _id of a corrupt being
// for messages; it is only rendered with an error.
func DecodeBeing(doc []byte, modelUUID string, wanted func(seq int64) bool) (id string, seq int64, key string, err error) {
	var idElem, seqElem, keyElem bsonraw.Element
	var seen [3]bool
	it := bsonraw.NewIter(doc)
	for it.Next() {
		e := it.Element()
		switch string(e.Name) {
		case "_id":
			idElem, seen[0] = e, true
		case "seq":
			seqElem, seen[1] = e, true
		case "key":
			keyElem, seen[2] = e, true
		}
	}
	fail := func(err error) (string, int64, string, error) {
		if seen[0] {
			return describeID(idElem), 0, "", err
		}
		return "", 0, "", err
	}
	if err := it.Err(); err != nil {
		return fail(fmt.Errorf("malformed document: %w", err))
	}
	var ok bool
	switch {
	case !seen[1]:
		return fail(fmt.Errorf("no seq"))
	case !seen[2]:
		return fail(fmt.Errorf("no key"))
	}
	if seq, ok = seqElem.Int64(); !ok {
		return fail(fmt.Errorf("seq is %s, not an integer", seqElem.Describe()))
	}
	if keyElem.Type != bsonraw.TypeString {
		return fail(fmt.Errorf("key is %s, not a string", keyElem.Describe()))
	}
	if got, _ := idElem.StrBytes(); !isDocID(got, modelUUID, seq) {
		return fail(fmt.Errorf("seq %d does not match _id", seq))
	}
	if wanted != nil && !wanted(seq) {
		return "", seq, "", nil
	}
	key, _ = keyElem.Str()
	return "", seq, key, nil
}
