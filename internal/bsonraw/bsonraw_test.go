package bsonraw

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/juju/mgo/v2/bson"
)

func marshal(t testing.TB, doc interface{}) []byte {
	t.Helper()
	data, err := bson.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestIterReadsEveryType walks a document holding one element of each type
// a driver writes, encoded by a real BSON encoder, and checks each name,
// type and value it yields.
func TestIterReadsEveryType(t *testing.T) {
	doc := marshal(t, bson.D{
		{Name: "double", Value: 1.5},
		{Name: "string", Value: "héllo"},
		{Name: "doc", Value: bson.D{{Name: "a", Value: int64(1)}}},
		{Name: "array", Value: []interface{}{int32(1), "x"}},
		{Name: "binary", Value: []byte{1, 2, 3}},
		{Name: "objectId", Value: bson.NewObjectId()},
		{Name: "bool", Value: true},
		{Name: "date", Value: time.Unix(1700000000, 0)},
		{Name: "null", Value: nil},
		{Name: "regex", Value: bson.RegEx{Pattern: "^a", Options: "i"}},
		{Name: "int32", Value: int32(-7)},
		{Name: "timestamp", Value: bson.MongoTimestamp(5)},
		{Name: "int64", Value: int64(1) << 62},
		{Name: "min", Value: bson.MinKey},
		{Name: "max", Value: bson.MaxKey},
	})
	want := []struct {
		name string
		typ  byte
	}{
		{"double", TypeDouble}, {"string", TypeString}, {"doc", TypeDocument}, {"array", TypeArray},
		{"binary", 0x05}, {"objectId", 0x07}, {"bool", 0x08}, {"date", 0x09}, {"null", TypeNull},
		{"regex", 0x0B}, {"int32", TypeInt32}, {"timestamp", 0x11}, {"int64", TypeInt64},
		{"min", 0xFF}, {"max", 0x7F},
	}
	it := NewIter(doc)
	i := 0
	for it.Next() {
		e := it.Element()
		if i >= len(want) {
			t.Fatalf("extra element %q", e.Name)
		}
		if string(e.Name) != want[i].name || e.Type != want[i].typ {
			t.Errorf("element %d: %q of type %#x, want %q of type %#x", i, e.Name, e.Type, want[i].name, want[i].typ)
		}
		switch want[i].name {
		case "string":
			if s, ok := e.Str(); !ok || s != "héllo" {
				t.Errorf("string = %q, %v", s, ok)
			}
		case "int32":
			if n, ok := e.Int64(); !ok || n != -7 {
				t.Errorf("int32 = %d, %v", n, ok)
			}
		case "int64":
			if n, ok := e.Int64(); !ok || n != 1<<62 {
				t.Errorf("int64 = %d, %v", n, ok)
			}
		case "doc":
			sub, ok := e.Doc()
			if !ok {
				t.Fatal("doc is not a document")
			}
			if a, found, err := Lookup(sub, "a"); err != nil || !found {
				t.Errorf("doc.a: %v, %v", found, err)
			} else if n, _ := a.Int64(); n != 1 {
				t.Errorf("doc.a = %d", n)
			}
		}
		i++
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	if i != len(want) {
		t.Errorf("read %d elements, want %d", i, len(want))
	}
	if err := Validate(doc); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

// TestMalformedDocumentsStopWithAnError cuts and corrupts documents: the
// iterator never reads past its bytes and says what is wrong.
func TestMalformedDocumentsStopWithAnError(t *testing.T) {
	good := marshal(t, bson.D{{Name: "_id", Value: "m:1"}, {Name: "alive", Value: bson.D{{Name: "0", Value: int64(3)}}}})
	cases := map[string]struct {
		doc  []byte
		want string
	}{
		"empty":           {nil, "shorter than an empty one"},
		"length mismatch": {append(append([]byte{}, good...), 0), "says it has"},
		"no final NUL":    {append(append([]byte{}, good[:len(good)-1]...), 1), "does not end with a NUL"},
		"cut string": {func() []byte {
			d := append([]byte{}, good...)
			d[4+1+4] = 0xFF // the _id string's length
			return d
		}(), `element "_id"`},
		"unknown type": {func() []byte {
			d := append([]byte{}, good...)
			d[4] = 0x42
			return d
		}(), "unknown element type"},
		"name without end": {[]byte{7, 0, 0, 0, 0x10, 'a', 0}, "name without an end"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			it := NewIter(c.doc)
			for it.Next() {
			}
			err := it.Err()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error = %v, want one containing %q", err, c.want)
			}
			if Validate(c.doc) == nil {
				t.Errorf("Validate accepted it")
			}
		})
	}
	// A nested document whose own framing is broken is caught by Validate.
	bad := append([]byte{}, good...)
	sub := bytes.Index(bad, []byte("alive\x00")) + len("alive\x00")
	bad[sub] = 4 // the nested document's length, now too short
	if err := Validate(bad); err == nil || !strings.Contains(err.Error(), `element "alive"`) {
		t.Errorf("Validate of a broken nested document = %v", err)
	}
}

// FuzzIter feeds any bytes to the iterator: it must not panic, and the
// elements it yields must lie end to end inside the document.
func FuzzIter(f *testing.F) {
	f.Add(marshal(f, bson.D{{Name: "_id", Value: "m:30"}, {Name: "slot", Value: int64(30)}, {Name: "alive", Value: bson.D{{Name: "0", Value: int64(6)}}}}))
	f.Add(marshal(f, bson.D{{Name: "a", Value: []interface{}{1, "x", bson.RegEx{Pattern: "p"}}}}))
	f.Fuzz(func(t *testing.T, doc []byte) {
		it := NewIter(doc)
		used := 4
		for it.Next() {
			e := it.Element()
			used += 1 + len(e.Name) + 1 + len(e.Value)
			if used > len(doc)-1 {
				t.Fatalf("elements take %d bytes of a %d-byte document", used, len(doc))
			}
			e.Int64()
			e.Str()
			e.Describe()
		}
		if it.Err() == nil && used != len(doc)-1 {
			t.Fatalf("a clean walk used %d bytes of %d", used, len(doc)-1)
		}
		Validate(doc)
	})
}

// TestBuilderWritesWhatAnEncoderWrites builds a document with nested parts
// and compares its bytes with a real encoder's.
func TestBuilderWritesWhatAnEncoderWrites(t *testing.T) {
	var b Builder
	b.Begin("$set")
	b.Int64("slot", 1700000010)
	b.End()
	b.Begin("$bit")
	b.Begin("alive.a")
	b.Int64("or", 1<<62)
	b.End()
	b.Begin("dead.0")
	b.Int64("or", 3)
	// left open: Bytes closes it
	got := b.Bytes()
	want := marshal(t, bson.D{
		{Name: "$set", Value: bson.D{{Name: "slot", Value: int64(1700000010)}}},
		{Name: "$bit", Value: bson.D{
			{Name: "alive.a", Value: bson.D{{Name: "or", Value: int64(1 << 62)}}},
			{Name: "dead.0", Value: bson.D{{Name: "or", Value: int64(3)}}},
		}},
	})
	if !bytes.Equal(got, want) {
		t.Fatalf("built %x\nwant  %x", got, want)
	}
	var empty Builder
	if got := empty.Bytes(); !bytes.Equal(got, []byte{5, 0, 0, 0, 0}) {
		t.Errorf("an empty document is %x", got)
	}
}

// TestBuilderCopiesElements builds a document of strings, numbers and of
// elements copied from another document, and compares its bytes with a
// real encoder's.
func TestBuilderCopiesElements(t *testing.T) {
	from := marshal(t, bson.D{
		{Name: "n", Value: int32(7)},
		{Name: "sub", Value: bson.D{{Name: "x", Value: 1.5}, {Name: "list", Value: []string{"a"}}}},
	})
	var b Builder
	b.String("_id", "m:30")
	b.String("empty", "")
	it := NewIter(from)
	for it.Next() {
		b.Element(it.Element())
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	b.Begin("d")
	b.String("k", "é")
	b.Int32("code", -2)
	b.Double("ok", 1)
	got := b.Bytes()
	want := marshal(t, bson.D{
		{Name: "_id", Value: "m:30"},
		{Name: "empty", Value: ""},
		{Name: "n", Value: int32(7)},
		{Name: "sub", Value: bson.D{{Name: "x", Value: 1.5}, {Name: "list", Value: []string{"a"}}}},
		{Name: "d", Value: bson.D{{Name: "k", Value: "é"}, {Name: "code", Value: int32(-2)}, {Name: "ok", Value: 1.0}}},
	})
	if !bytes.Equal(got, want) {
		t.Fatalf("built %x\nwant  %x", got, want)
	}
}
