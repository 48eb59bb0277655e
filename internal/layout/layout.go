// Package layout is the home of presence's documents, as Juju laid them
// out: the collections that hang off a base collection, the _id of every
// document, which starts with the model UUID and a colon so that models
// share collections without seeing each other, the fields of a slot
// document, where each sequence is one bit, the update that ORs bits into
// a slot document, and the decoding of slot and being documents from
// their bytes, which anyone may have written.
//
// The engine and both driver adapters build names, ids, field names and
// updates here, so the two faces write the same documents, and every
// reader reads them here. Nothing here touches a database, a clock or a
// goroutine.
package layout

import (
	"bytes"
	"strconv"
	"strings"
)

// The collections hang off the caller's base collection B: B.seqs holds one
// sequence counter per model, B.beings maps each sequence to its key, and
// B.pings holds one document per model and slot.
const (
	SeqsSuffix   = ".seqs"
	BeingsSuffix = ".beings"
	PingsSuffix  = ".pings"
)

// Batch is the most ids asked for, removed or written in one command:
// MongoDB before 3.6 takes no more statements in one write command, and a
// smaller command is less likely to time out on a slow server.
const Batch = 1000

// RangeBatch is how many documents a read of a whole range of ids (all of
// a model's beings) asks for per round trip: being documents are small,
// and a watcher starting on a model of a million keys then reads them in
// about a hundred round trips.
const RangeBatch = 10000

// DocID is the _id of a model's document named by a number, a sequence
// (beings) or a slot (pings): "<uuid>:<n>".
func DocID(modelUUID string, n int64) string {
	return modelUUID + ":" + strconv.FormatInt(n, 10)
}

// SeqsID is the _id of a model's sequence counter.
func SeqsID(modelUUID string) string {
	return modelUUID + ":beings"
}

// ModelRange returns the bounds of the _ids of one model's documents:
// every string from "<uuid>:" up to but not including "<uuid>;" (';'
// follows ':'). The _id index serves such a range in one pass, and a model
// whose id extends another's falls outside it.
func ModelRange(modelUUID string) (from, before string) {
	return modelUUID + ":", modelUUID + ";"
}

// ValidModelUUID reports why a model id cannot head the _ids of its
// documents, or "" if it can: any non-empty id without the ':' separator,
// which would put its documents under another model's prefix. This is all
// Juju asked of an id, and its tests use ids such as "test-uuid"; the
// Juju-compatible face takes any such id.
func ValidModelUUID(modelUUID string) string {
	switch {
	case modelUUID == "":
		return "empty model UUID"
	case strings.Contains(modelUUID, ":"):
		return "model UUID " + strconv.Quote(modelUUID) + " contains ':'"
	}
	return ""
}

// ValidCanonicalUUID reports why a model id is not a UUID in the canonical
// form Juju gives its models, or "" if it is: 32 lower-case hexadecimal
// digits in groups of 8-4-4-4-12 joined by '-', nothing before or after.
// Upper case is refused rather than folded: ids are compared byte for
// byte, so "A7C1..." and "a7c1..." would name two models, and Juju writes
// lower case. The version and variant digits are not checked.
func ValidCanonicalUUID(modelUUID string) string {
	if problem := ValidModelUUID(modelUUID); problem != "" {
		return problem
	}
	upper := false
	ok := len(modelUUID) == 36
	for i := 0; ok && i < len(modelUUID); i++ {
		c := modelUUID[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			ok = c == '-'
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
		case 'A' <= c && c <= 'F':
			upper = true
		default:
			ok = false
		}
	}
	switch {
	case !ok:
		return "model UUID " + strconv.Quote(modelUUID) + " is not a UUID (8-4-4-4-12 hexadecimal digits)"
	case upper:
		return "model UUID " + strconv.Quote(modelUUID) + " has upper-case digits: model UUIDs are lower-case"
	}
	return ""
}

// ModelOfID returns the model UUID a document's _id starts with: the
// bytes before its first ':'. ok is false for an id with no separator or
// nothing before it.
func ModelOfID(id []byte) (model []byte, ok bool) {
	i := bytes.IndexByte(id, ':')
	if i <= 0 {
		return nil, false
	}
	return id[:i], true
}
