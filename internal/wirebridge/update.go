package wirebridge

import (
	"fmt"
	"strconv"

	"github.com/juju/mgo/v2/bson"

	"github.com/presence-go/presence/internal/bsonraw"
)

// MaxUpdateChunk is the largest number of statements the bridge sends to the
// server in one update command: one. The bridge splits every update command
// of several statements into commands of one statement each, sends them in
// order (stopping after a failed statement when the command is ordered) and
// merges the replies into the one MongoDB would give for the whole command.
//
// Two faults of FerretDB v1.24 make it so. It deadlocks on an update command
// with about 100 statements that match existing documents (a deferred close
// in its per-statement loop exhausts its connection pool). And its replies to
// commands of several statements cannot be merged into MongoDB's: the index
// of an upserted entry counts the upserts before it instead of naming the
// statement, and a failing statement ends the whole command, ordered or not,
// with a single write error at index 0 and no counts. Its reply to a single
// statement is exact, and splitting that far costs little: each statement
// scans the collection on SQLite, which outweighs a loopback round trip (on
// a collection of 1,500 documents, 1,500 upserts took as long one by one as
// in commands of 16; on a small one, a 40-statement bulk took 27 ms instead
// of 18).
const MaxUpdateChunk = 1

// updateChunk is one piece of a split update command.
type updateChunk struct {
	cmd   msgCommand // the command, with only this chunk's statements
	first int        // index of the chunk's first statement in the original command
	count int        // number of statements in the chunk
}

// updateStatements returns the statements of an update command, from its
// "updates" document sequence or else from the "updates" array of its body,
// and whether the command is ordered (the default when "ordered" is absent).
func updateStatements(cmd msgCommand) (statements [][]byte, ordered bool, err error) {
	elems, err := elements(cmd.body)
	if err != nil {
		return nil, false, err
	}
	ordered = true
	var array *bsonraw.Element
	for i, e := range elems {
		switch string(e.Name) {
		case "updates":
			array = &elems[i]
		case "ordered":
			if e.Type == bsonraw.TypeBool && len(e.Value) == 1 {
				ordered = e.Value[0] != 0
			}
		}
	}
	seq := cmd.sequence("updates")
	switch {
	case seq != nil && array != nil:
		return nil, false, malformed("updates both in the body and in a document sequence")
	case seq != nil:
		return seq.docs, ordered, nil
	case array == nil:
		return nil, false, malformed("update command without updates")
	case array.Type != bsonraw.TypeArray:
		return nil, false, malformed("updates is not an array")
	}
	items, err := elements(array.Value)
	if err != nil {
		return nil, false, fmt.Errorf("updates: %w", err)
	}
	for _, item := range items {
		if item.Type != bsonraw.TypeDocument {
			return nil, false, malformed("update statement %s is not a document", item.Name)
		}
		statements = append(statements, item.Value)
	}
	return statements, ordered, nil
}

// splitUpdate cuts an update command into commands of at most max
// statements each, every other field and section copied unchanged and in
// place. Statements stay where the client put them: in the document
// sequence or in the body's array.
func splitUpdate(cmd msgCommand, max int) ([]updateChunk, error) {
	if max < 1 {
		return nil, fmt.Errorf("chunk size %d", max)
	}
	statements, _, err := updateStatements(cmd)
	if err != nil {
		return nil, err
	}
	inSequence := cmd.sequence("updates") != nil
	var chunks []updateChunk
	for first := 0; first < len(statements) || first == 0; first += max {
		last := min(first+max, len(statements))
		var c msgCommand
		if inSequence {
			c = withUpdatesSequence(cmd, statements[first:last])
		} else if c, err = withUpdatesArray(cmd, statements[first:last]); err != nil {
			return nil, err
		}
		chunks = append(chunks, updateChunk{cmd: c, first: first, count: last - first})
		if last == len(statements) {
			break
		}
	}
	return chunks, nil
}

// withUpdatesArray returns cmd with the body's updates array replaced by
// statements.
func withUpdatesArray(cmd msgCommand, statements [][]byte) (msgCommand, error) {
	elems, err := elements(cmd.body)
	if err != nil {
		return msgCommand{}, err
	}
	var array bsonraw.Builder
	for i, s := range statements {
		array.Element(bsonraw.Element{Type: bsonraw.TypeDocument, Name: []byte(strconv.Itoa(i)), Value: s})
	}
	arrayDoc := array.Bytes()
	var b bsonraw.Builder
	for _, e := range elems {
		if string(e.Name) == "updates" {
			e.Type, e.Value = bsonraw.TypeArray, arrayDoc
		}
		b.Element(e)
	}
	return msgCommand{body: b.Bytes(), sequences: cmd.sequences}, nil
}

// withUpdatesSequence returns cmd with the documents of its updates
// sequence replaced by statements.
func withUpdatesSequence(cmd msgCommand, statements [][]byte) msgCommand {
	sequences := make([]docSequence, len(cmd.sequences))
	for i, seq := range cmd.sequences {
		if seq.identifier == "updates" {
			seq.docs = statements
		}
		sequences[i] = seq
	}
	return msgCommand{body: cmd.body, sequences: sequences}
}

// updateReply is the part of an update command's reply that merging needs.
type updateReply struct {
	ok          bool
	n           int64
	nModified   int64
	upserted    []bson.RawD
	writeErrors []bson.RawD
	rest        bson.RawD // every other field, e.g. writeConcernError
}

// parseUpdateReply decodes an update command's reply.
func parseUpdateReply(doc []byte) (updateReply, error) {
	var r updateReply
	var fields bson.RawD
	if err := checkDocument(doc); err != nil {
		return r, err
	}
	if err := bson.Unmarshal(doc, &fields); err != nil {
		return r, malformed("update reply: %v", err)
	}
	for _, f := range fields {
		var err error
		switch f.Name {
		case "ok":
			var v float64
			v, err = number(f.Value)
			r.ok = v == 1
		case "n":
			var v float64
			v, err = number(f.Value)
			r.n = int64(v)
		case "nModified":
			var v float64
			v, err = number(f.Value)
			r.nModified = int64(v)
		case "upserted":
			err = f.Value.Unmarshal(&r.upserted)
		case "writeErrors":
			err = f.Value.Unmarshal(&r.writeErrors)
		default:
			r.rest = append(r.rest, f)
		}
		if err != nil {
			return r, malformed("update reply field %s: %v", f.Name, err)
		}
	}
	return r, nil
}

// number reads a BSON int32, int64 or double.
func number(raw bson.Raw) (float64, error) {
	var v any
	if err := raw.Unmarshal(&v); err != nil {
		return 0, err
	}
	switch n := v.(type) {
	case int:
		return float64(n), nil
	case int64:
		return float64(n), nil
	case float64:
		return n, nil
	default:
		return 0, fmt.Errorf("%T is not a number", v)
	}
}

// mergeUpdateReplies merges the replies to the chunks of one split update
// command into the reply the whole command would have had: counts summed,
// upserted and writeErrors concatenated with each index re-based to the
// statement's index in the original command. replies[i] answers chunks[i];
// there may be fewer replies than chunks when an ordered update stopped at
// a write error. A reply that is not ok (the command itself failed) is
// returned as it is.
func mergeUpdateReplies(chunks []updateChunk, replies [][]byte) ([]byte, error) {
	if len(replies) == 0 || len(replies) > len(chunks) {
		return nil, fmt.Errorf("%d replies for %d chunks", len(replies), len(chunks))
	}
	var n, nModified int64
	var upserted, writeErrors []bson.D
	var rest bson.RawD
	for i, doc := range replies {
		r, err := parseUpdateReply(doc)
		if err != nil {
			return nil, err
		}
		if !r.ok {
			return doc, nil
		}
		n += r.n
		nModified += r.nModified
		for _, u := range r.upserted {
			upserted = append(upserted, rebase(u, chunks[i].first))
		}
		for _, w := range r.writeErrors {
			writeErrors = append(writeErrors, rebase(w, chunks[i].first))
		}
		for _, f := range r.rest {
			if !hasField(rest, f.Name) {
				rest = append(rest, f)
			}
		}
	}
	merged := bson.D{{Name: "n", Value: int32OrInt64(n)}, {Name: "nModified", Value: int32OrInt64(nModified)}}
	if len(upserted) > 0 {
		merged = append(merged, bson.DocElem{Name: "upserted", Value: upserted})
	}
	if len(writeErrors) > 0 {
		merged = append(merged, bson.DocElem{Name: "writeErrors", Value: writeErrors})
	}
	for _, f := range rest {
		merged = append(merged, bson.DocElem{Name: f.Name, Value: f.Value})
	}
	merged = append(merged, bson.DocElem{Name: "ok", Value: 1.0})
	out, err := bson.Marshal(merged)
	if err != nil {
		return nil, fmt.Errorf("merged update reply: %v", err)
	}
	return out, nil
}

// rebase copies an upserted or writeErrors entry with its index moved by
// first, keeping every other field's raw value.
func rebase(entry bson.RawD, first int) bson.D {
	out := make(bson.D, 0, len(entry))
	for _, f := range entry {
		if f.Name == "index" {
			if idx, err := number(f.Value); err == nil {
				out = append(out, bson.DocElem{Name: "index", Value: int32OrInt64(int64(idx) + int64(first))})
				continue
			}
		}
		out = append(out, bson.DocElem{Name: f.Name, Value: f.Value})
	}
	return out
}

func hasField(d bson.RawD, name string) bool {
	for _, f := range d {
		if f.Name == name {
			return true
		}
	}
	return false
}

// int32OrInt64 keeps counts as int32, as servers send them, unless too big.
func int32OrInt64(n int64) any {
	if n >= -1<<31 && n < 1<<31 {
		return int32(n)
	}
	return n
}
