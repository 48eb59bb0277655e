package wirebridge

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/juju/mgo/v2/bson"
)

func marshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := bson.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func unmarshalD(t *testing.T, doc []byte) bson.D {
	t.Helper()
	var d bson.D
	if err := bson.Unmarshal(doc, &d); err != nil {
		t.Fatalf("bad BSON %x: %v", doc, err)
	}
	return d
}

func keys(d bson.D) []string {
	var out []string
	for _, e := range d {
		out = append(out, e.Name)
	}
	return out
}

func TestMessageRoundTrip(t *testing.T) {
	doc := marshal(t, bson.D{{Name: "ping", Value: 1}})
	q := query{flags: 4, fullCollection: "admin.$cmd", skip: 0, limit: -1, doc: doc}
	framed := encodeMessage(7, 0, opQuery, encodeQuery(q))

	m, err := readMessage(bytes.NewReader(framed))
	if err != nil {
		t.Fatal(err)
	}
	if m.length != int32(len(framed)) || m.requestID != 7 || m.opCode != opQuery {
		t.Fatalf("header %+v", m.header)
	}
	got, err := parseQuery(m.body)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, q) {
		t.Fatalf("got %+v, want %+v", got, q)
	}

	reply := encodeMessage(8, 7, opReply, encodeReply(0, doc))
	m, err = readMessage(bytes.NewReader(reply))
	if err != nil {
		t.Fatal(err)
	}
	flags, docs, err := parseReply(m.body)
	if err != nil {
		t.Fatal(err)
	}
	if m.responseTo != 7 || flags != 0 || len(docs) != 1 || !bytes.Equal(docs[0], doc) {
		t.Fatalf("reply: responseTo %d flags %d docs %x", m.responseTo, flags, docs)
	}

	msg, err := parseMsg(encodeMsg(doc))
	if err != nil || !bytes.Equal(msg, doc) {
		t.Fatalf("OP_MSG round trip: %x, %v", msg, err)
	}
}

func TestParseMsgSkipsChecksum(t *testing.T) {
	doc := marshal(t, bson.D{{Name: "ok", Value: 1.0}})
	body := binary.LittleEndian.AppendUint32(nil, msgChecksumPresent)
	body = append(body, 0)
	body = append(body, doc...)
	body = append(body, 1, 2, 3, 4)
	got, err := parseMsg(body)
	if err != nil || !bytes.Equal(got, doc) {
		t.Fatalf("got %x, %v", got, err)
	}
}

func TestCommandFromQueryUnwrapsQuery(t *testing.T) {
	inner := bson.D{{Name: "find", Value: "c"}, {Name: "filter", Value: bson.M{"a": 1}}}
	for _, wrapper := range []string{"$query", "query"} {
		wrapped := marshal(t, bson.D{{Name: wrapper, Value: inner}, {Name: "$readPreference", Value: bson.M{"mode": "primary"}}})
		cmd, err := commandFromQuery(wrapped)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(cmd, marshal(t, inner)) {
			t.Fatalf("%s: got %v", wrapper, unmarshalD(t, cmd))
		}
	}
	plain := marshal(t, inner)
	if cmd, err := commandFromQuery(plain); err != nil || !bytes.Equal(cmd, plain) {
		t.Fatalf("plain command changed: %v, %v", unmarshalD(t, cmd), err)
	}
}

func TestAppendDBAtTheEnd(t *testing.T) {
	cmd := marshal(t, bson.D{
		{Name: "findAndModify", Value: "seqs"},
		{Name: "query", Value: bson.M{"_id": "m:beings"}},
		{Name: "update", Value: bson.M{"$inc": bson.M{"seq": int64(1)}}},
		{Name: "big", Value: int64(1) << 62},
		{Name: "small", Value: int64(3)},
	})
	out, err := appendDB(cmd, "juju")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out[4:len(cmd)-1], cmd[4:len(cmd)-1]) {
		t.Fatalf("original elements were not copied unchanged")
	}
	d := unmarshalD(t, out)
	if want := []string{"findAndModify", "query", "update", "big", "small", "$db"}; !reflect.DeepEqual(keys(d), want) {
		t.Fatalf("keys %v, want %v", keys(d), want)
	}
	if d[5].Value != "juju" {
		t.Fatalf("$db = %v", d[5].Value)
	}
	if v, ok := d[4].Value.(int64); !ok || v != 3 {
		t.Fatalf("small int64 became %T %v", d[4].Value, d[4].Value)
	}

	again, err := appendDB(out, "other")
	if err != nil || !bytes.Equal(again, out) {
		t.Fatalf("a command with $db was changed: %v", err)
	}
}

func TestNonceAndErrorDocuments(t *testing.T) {
	d := unmarshalD(t, nonceDoc(0xabc))
	if !reflect.DeepEqual(d, bson.D{{Name: "nonce", Value: "abc"}, {Name: "ok", Value: 1.0}}) {
		t.Fatalf("nonce: %v", d)
	}
	d = unmarshalD(t, errorDoc("no", 5))
	if !reflect.DeepEqual(d, bson.D{{Name: "$err", Value: "no"}, {Name: "code", Value: 5}, {Name: "ok", Value: 0.0}}) {
		t.Fatalf("error: %v", d)
	}
}

func updateCommand(t *testing.T, n int, ordered bool) []byte {
	t.Helper()
	var updates []bson.D
	for i := range n {
		updates = append(updates, bson.D{
			{Name: "q", Value: bson.M{"_id": fmt.Sprintf("m:%d", i)}},
			{Name: "u", Value: bson.M{"$bit": bson.M{"alive.0": bson.M{"or": int64(1) << 40}}}},
			{Name: "upsert", Value: true},
		})
	}
	return marshal(t, bson.D{
		{Name: "update", Value: "pings"},
		{Name: "updates", Value: updates},
		{Name: "ordered", Value: ordered},
		{Name: "writeConcern", Value: bson.M{"w": 1}},
	})
}

func TestSplitUpdate(t *testing.T) {
	const n = 40
	cmd := updateCommand(t, n, false)
	statements, ordered, err := updateStatements(msgCommand{body: cmd})
	if err != nil || len(statements) != n || ordered {
		t.Fatalf("updateStatements: %d, %v, %v", len(statements), ordered, err)
	}
	original := unmarshalD(t, cmd)
	chunks, err := splitUpdate(msgCommand{body: cmd}, 16)
	if err != nil {
		t.Fatal(err)
	}
	if len(chunks) != 3 {
		t.Fatalf("%d chunks, want 3", len(chunks))
	}
	var rejoined []any
	for i, c := range chunks {
		if c.first != i*16 || c.count != min(16, n-i*16) {
			t.Fatalf("chunk %d: first %d count %d", i, c.first, c.count)
		}
		if len(c.cmd.sequences) != 0 {
			t.Fatalf("chunk %d has document sequences", i)
		}
		d := unmarshalD(t, c.cmd.body)
		if want := []string{"update", "updates", "ordered", "writeConcern"}; !reflect.DeepEqual(keys(d), want) {
			t.Fatalf("chunk %d keys %v", i, keys(d))
		}
		for _, j := range []int{0, 2, 3} {
			if !reflect.DeepEqual(d[j], original[j]) {
				t.Fatalf("chunk %d field %s: %v, want %v", i, d[j].Name, d[j], original[j])
			}
		}
		items := d[1].Value.([]any)
		if len(items) != c.count {
			t.Fatalf("chunk %d has %d statements", i, len(items))
		}
		rejoined = append(rejoined, items...)
	}
	if !reflect.DeepEqual(rejoined, original[1].Value) {
		t.Fatalf("statements changed by splitting")
	}
	if _, err := splitUpdate(msgCommand{body: marshal(t, bson.D{{Name: "update", Value: "x"}})}, 16); err == nil {
		t.Fatal("update without updates: no error")
	}
}

func TestSplitUpdateInDocumentSequence(t *testing.T) {
	const n = 20
	body := marshal(t, bson.D{{Name: "update", Value: "pings"}, {Name: "ordered", Value: true}, {Name: "$db", Value: "db"}})
	var statements [][]byte
	for i := range n {
		statements = append(statements, marshal(t, bson.D{
			{Name: "q", Value: bson.M{"_id": i}},
			{Name: "u", Value: bson.M{"$set": bson.M{"v": int64(i) << 40}}},
		}))
	}
	other := docSequence{identifier: "other", docs: [][]byte{marshal(t, bson.M{"a": 1})}}
	cmd := msgCommand{body: body, sequences: []docSequence{{identifier: "updates", docs: statements}, other}}

	// The command survives framing.
	_, parsed, err := parseMsgCommand(encodeMsgCommand(cmd))
	if err != nil || !reflect.DeepEqual(parsed, cmd) {
		t.Fatalf("framing changed the command: %v", err)
	}
	got, ordered, err := updateStatements(parsed)
	if err != nil || len(got) != n || !ordered {
		t.Fatalf("updateStatements: %d, %v, %v", len(got), ordered, err)
	}

	chunks, err := splitUpdate(parsed, 16)
	if err != nil {
		t.Fatal(err)
	}
	if len(chunks) != 2 || chunks[0].count != 16 || chunks[1].first != 16 || chunks[1].count != 4 {
		t.Fatalf("chunks %+v", chunks)
	}
	var rejoined [][]byte
	for i, c := range chunks {
		if !bytes.Equal(c.cmd.body, body) {
			t.Fatalf("chunk %d body changed", i)
		}
		if len(c.cmd.sequences) != 2 || !reflect.DeepEqual(c.cmd.sequences[1], other) {
			t.Fatalf("chunk %d sequences %+v", i, c.cmd.sequences)
		}
		rejoined = append(rejoined, c.cmd.sequences[0].docs...)
	}
	if !reflect.DeepEqual(rejoined, statements) {
		t.Fatal("statements changed by splitting")
	}

	both := msgCommand{body: updateCommand(t, 2, true), sequences: cmd.sequences}
	if _, _, err := updateStatements(both); err == nil {
		t.Fatal("updates both in the body and in a sequence: no error")
	}
}

func TestParseMsgCommandRefusesBrokenSequences(t *testing.T) {
	body := marshal(t, bson.D{{Name: "insert", Value: "c"}})
	doc := marshal(t, bson.M{"_id": 1})
	section := func(size uint32, id string, docs ...[]byte) []byte {
		out := []byte{0, 0, 0, 0, 0} // flags, then the body section
		out = append(out, body...)
		out = append(out, 1)
		out = binary.LittleEndian.AppendUint32(out, size)
		out = append(out, id...)
		out = append(out, 0)
		for _, d := range docs {
			out = append(out, d...)
		}
		return out
	}
	good := section(uint32(4+len("documents")+1+len(doc)), "documents", doc)
	if _, cmd, err := parseMsgCommand(good); err != nil || len(cmd.sequences) != 1 || !bytes.Equal(cmd.sequences[0].docs[0], doc) {
		t.Fatalf("good sequence: %+v, %v", cmd, err)
	}
	for name, msg := range map[string][]byte{
		"size past the end":    section(1000, "documents", doc),
		"size too small":       section(3, "documents", doc),
		"empty identifier":     section(uint32(4+1+len(doc)), "", doc),
		"document cut short":   section(uint32(4+len("documents")+1+len(doc)-1), "documents", doc[:len(doc)-1]),
		"unknown section":      append(append([]byte{0, 0, 0, 0, 0}, body...), 2),
		"sequence and no body": {0, 0, 0, 0, 1, 8, 0, 0, 0, 'a', 0, 0, 0},
	} {
		if _, _, err := parseMsgCommand(msg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := parseMsg(good); err == nil {
		t.Error("parseMsg took a reply with a document sequence")
	}
}

func TestMergeUpdateRepliesRebasesIndexes(t *testing.T) {
	chunks := []updateChunk{{first: 0, count: 16}, {first: 16, count: 16}, {first: 32, count: 8}}
	replies := [][]byte{
		marshal(t, bson.D{{Name: "n", Value: 16}, {Name: "nModified", Value: 15}, {Name: "ok", Value: 1.0}}),
		marshal(t, bson.D{
			{Name: "n", Value: 15},
			{Name: "nModified", Value: 14},
			{Name: "upserted", Value: []bson.D{{{Name: "index", Value: 3}, {Name: "_id", Value: "m:19"}}}},
			{Name: "writeErrors", Value: []bson.D{{{Name: "index", Value: 5}, {Name: "code", Value: 11000}, {Name: "errmsg", Value: "dup"}}}},
			{Name: "ok", Value: 1.0},
		}),
		marshal(t, bson.D{
			{Name: "n", Value: 8},
			{Name: "nModified", Value: 0},
			{Name: "upserted", Value: []bson.D{
				{{Name: "index", Value: 0}, {Name: "_id", Value: int64(7)}},
				{{Name: "index", Value: 7}, {Name: "_id", Value: "m:39"}},
			}},
			{Name: "writeErrors", Value: []bson.D{{{Name: "index", Value: 2}, {Name: "code", Value: 2}, {Name: "errmsg", Value: "bad"}}}},
			{Name: "ok", Value: 1},
		}),
	}
	merged, err := mergeUpdateReplies(chunks, replies)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		N           int `bson:"n"`
		NModified   int `bson:"nModified"`
		Upserted    []bson.M
		WriteErrors []bson.M `bson:"writeErrors"`
		OK          float64
	}
	if err := bson.Unmarshal(merged, &got); err != nil {
		t.Fatal(err)
	}
	if got.N != 39 || got.NModified != 29 || got.OK != 1 {
		t.Fatalf("n %d, nModified %d, ok %v", got.N, got.NModified, got.OK)
	}
	wantUpserted := []bson.M{{"index": 19, "_id": "m:19"}, {"index": 32, "_id": int64(7)}, {"index": 39, "_id": "m:39"}}
	if !reflect.DeepEqual(got.Upserted, wantUpserted) {
		t.Fatalf("upserted %v, want %v", got.Upserted, wantUpserted)
	}
	wantErrors := []bson.M{{"index": 21, "code": 11000, "errmsg": "dup"}, {"index": 34, "code": 2, "errmsg": "bad"}}
	if !reflect.DeepEqual(got.WriteErrors, wantErrors) {
		t.Fatalf("writeErrors %v, want %v", got.WriteErrors, wantErrors)
	}
}

func TestMergeUpdateRepliesReturnsFailedCommand(t *testing.T) {
	chunks := []updateChunk{{first: 0, count: 16}, {first: 16, count: 1}}
	failed := marshal(t, bson.D{{Name: "ok", Value: 0.0}, {Name: "errmsg", Value: "no such thing"}, {Name: "code", Value: 26}})
	replies := [][]byte{marshal(t, bson.D{{Name: "n", Value: 16}, {Name: "ok", Value: 1.0}}), failed}
	merged, err := mergeUpdateReplies(chunks, replies)
	if err != nil || !bytes.Equal(merged, failed) {
		t.Fatalf("got %v, %v; want the failed reply", unmarshalD(t, merged), err)
	}
}

func TestMalformedInputGivesErrors(t *testing.T) {
	good := marshal(t, bson.D{{Name: "ping", Value: 1}})
	header := func(length int32) []byte {
		h := binary.LittleEndian.AppendUint32(nil, uint32(length))
		return append(h, make([]byte, 12)...)
	}
	frames := map[string][]byte{
		"short header":     {1, 2, 3},
		"length too small": header(3),
		"length negative":  header(-1),
		"length huge":      header(maxMessageSize + 1),
		"body cut short":   append(header(100), 1, 2, 3),
	}
	for name, frame := range frames {
		if _, err := readMessage(bytes.NewReader(frame)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := readMessage(bytes.NewReader(nil)); !errors.Is(err, io.EOF) {
		t.Errorf("empty stream: %v, want EOF", err)
	}

	truncated := good[:len(good)-1]
	badLength := append([]byte{}, good...)
	binary.LittleEndian.PutUint32(badLength, 1000)
	badKind := append([]byte{}, good...)
	badKind[4] = 0x42
	noNul := append([]byte{}, good...)
	noNul[len(noNul)-1] = 1
	hugeString := marshal(t, bson.D{{Name: "s", Value: "abc"}})
	binary.LittleEndian.PutUint32(hugeString[7:], 0x7fffffff)
	negativeString := marshal(t, bson.D{{Name: "s", Value: "abc"}})
	binary.LittleEndian.PutUint32(negativeString[7:], 0xffffffff)
	unterminatedName := []byte{10, 0, 0, 0, 0x10, 'a', 'b', 'c', 'd', 0}
	// A string value must end with its NUL: the bridge reads commands
	// with bsonraw, as the library reads documents, and refuses such a
	// command itself rather than pass it on to a server that must refuse
	// it too.
	unterminatedString := marshal(t, bson.D{{Name: "s", Value: "abc"}})
	unterminatedString[len(unterminatedString)-2] = 'd'
	docs := map[string][]byte{
		"empty":               {},
		"truncated":           truncated,
		"length mismatch":     badLength,
		"unknown kind":        badKind,
		"no final NUL":        noNul,
		"huge string":         hugeString,
		"negative string":     negativeString,
		"unterminated name":   unterminatedName,
		"unterminated string": unterminatedString,
	}
	for name, doc := range docs {
		if _, err := elements(doc); err == nil {
			t.Errorf("elements(%s): no error", name)
		}
		if _, err := appendDB(doc, "db"); err == nil {
			t.Errorf("appendDB(%s): no error", name)
		}
		if _, err := commandFromQuery(doc); err == nil {
			t.Errorf("commandFromQuery(%s): no error", name)
		}
		if _, err := splitUpdate(msgCommand{body: doc}, 16); err == nil {
			t.Errorf("splitUpdate(%s): no error", name)
		}
		// Framing checks only a document's length and final NUL; its
		// elements are checked when the command is read.
		body, err := parseMsg(append([]byte{0, 0, 0, 0, 0}, doc...))
		if err == nil {
			_, err = commandFromQuery(body)
		}
		if err == nil {
			t.Errorf("parseMsg(%s) then commandFromQuery: no error", name)
		}
		q, err := parseQuery(encodeQuery(query{fullCollection: "db.$cmd", doc: doc}))
		if err == nil {
			_, err = commandFromQuery(q.doc)
		}
		if err == nil {
			t.Errorf("parseQuery(%s) then commandFromQuery: no error", name)
		}
		if _, err := mergeUpdateReplies([]updateChunk{{count: 1}}, [][]byte{doc}); err == nil {
			t.Errorf("mergeUpdateReplies(%s): no error", name)
		}
	}
	for name, body := range map[string][]byte{
		"OP_QUERY without name end": {0, 0, 0, 0, 'a', 'b'},
		"OP_QUERY without counts":   {0, 0, 0, 0, 'a', 0, 1},
		"OP_MSG short":              {0, 0},
		"OP_MSG kind 1":             append([]byte{0, 0, 0, 0, 1}, good...),
		"OP_MSG two bodies":         append(append([]byte{0, 0, 0, 0, 0}, good...), append([]byte{0}, good...)...),
		"OP_MSG no body":            {0, 0, 0, 0},
	} {
		if _, err := parseQuery(body); err == nil && name[3] == 'Q' {
			t.Errorf("%s: no error", name)
		}
		if _, err := parseMsg(body); err == nil && name[3] == 'M' {
			t.Errorf("%s: no error", name)
		}
	}
}

// FuzzElements checks that no input makes the BSON walker panic.
func FuzzElements(f *testing.F) {
	f.Add([]byte{5, 0, 0, 0, 0})
	f.Add(updateCommandForFuzz())
	f.Fuzz(func(t *testing.T, doc []byte) {
		elements(doc)
		appendDB(doc, "db")
		commandFromQuery(doc)
		splitUpdate(msgCommand{body: doc}, 2)
		parseMsgCommand(doc)
		parseQuery(doc)
		parseMsg(doc)
		parseReply(doc)
		mergeUpdateReplies([]updateChunk{{count: 1}}, [][]byte{doc})
	})
}

func updateCommandForFuzz() []byte {
	b, _ := bson.Marshal(bson.D{{Name: "update", Value: "c"}, {Name: "updates", Value: []bson.M{{"q": bson.M{}}}}})
	return b
}

func TestAddToDateTimeChangesOnlyThatValue(t *testing.T) {
	when := time.UnixMilli(1_700_000_000_123).UTC()
	doc := marshal(t, bson.D{
		{Name: "ismaster", Value: true},
		{Name: "nested", Value: bson.D{{Name: "localTime", Value: when}}},
		{Name: "localTime", Value: when},
		{Name: "big", Value: int64(1) << 62},
		{Name: "ok", Value: 1.0},
	})
	out := addToDateTime(doc, "localTime", -90_000)
	d := unmarshalD(t, out)
	if got := d[2].Value.(time.Time); !got.Equal(when.Add(-90 * time.Second)) {
		t.Fatalf("localTime %v, want %v", got, when.Add(-90*time.Second))
	}
	if !d[1].Value.(bson.D)[0].Value.(time.Time).Equal(when) {
		t.Fatalf("a nested localTime changed: %v", d[1])
	}
	diff := 0
	for i := range doc {
		if doc[i] != out[i] {
			diff++
		}
	}
	if len(out) != len(doc) || diff == 0 || diff > 8 {
		t.Fatalf("%d bytes of %d changed (length %d), want at most the 8 of localTime", diff, len(doc), len(out))
	}
	if !bytes.Equal(doc, marshal(t, bson.D{
		{Name: "ismaster", Value: true},
		{Name: "nested", Value: bson.D{{Name: "localTime", Value: when}}},
		{Name: "localTime", Value: when},
		{Name: "big", Value: int64(1) << 62},
		{Name: "ok", Value: 1.0},
	})) {
		t.Fatal("the original document was changed")
	}

	noTime := marshal(t, bson.D{{Name: "localTime", Value: "not a date"}})
	if out := addToDateTime(noTime, "localTime", 5); !bytes.Equal(out, noTime) {
		t.Fatal("a localTime that is not a datetime was changed")
	}
}
