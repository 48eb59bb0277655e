// Package layout names presence's collections and documents, as Juju laid
// them out: the collections that hang off a base collection, and the _id
// of every document, which starts with the model UUID and a colon so that
// models share collections without seeing each other.
//
// The engine and both driver adapters build names and ids here, so the two
// faces write the same documents. Nothing here touches a database.
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

// ValidModelUUID reports why a model id cannot be used, or "" if it can:
// any non-empty id without the ':' separator. Juju never checked the shape,
// and its tests use ids such as "test-uuid".
func ValidModelUUID(modelUUID string) string {
	switch {
	case modelUUID == "":
		return "empty model UUID"
	case strings.Contains(modelUUID, ":"):
		return "model UUID " + strconv.Quote(modelUUID) + " contains ':'"
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
