package livestate

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/presence-go/presence/internal/bsonraw"
	"github.com/presence-go/presence/internal/layout"
)

// TestViewMatchesAFreshDecodeOfAnyBytes drives views through seeded
// random histories of parts that anyone may have written (see
// checkViewHistory) and checks every read against a fresh decode.
func TestViewMatchesAFreshDecodeOfAnyBytes(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for history := 0; history < 100; history++ {
		data := make([]byte, 1000)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		t.Run(fmt.Sprint(history), func(t *testing.T) {
			checkViewHistory(t, &choices{data: data})
		})
	}
}

// FuzzViewMatchesAFreshDecode is TestViewMatchesAFreshDecodeOfAnyBytes
// with the fuzzer's bytes as the history's choices.
func FuzzViewMatchesAFreshDecode(f *testing.F) {
	f.Add([]byte{})
	// A dead part where field 0, of no bits, is named twice, and the
	// first one changes type: once the view misread it.
	f.Add([]byte("00000000000001000001&y010001000101)"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkViewHistory(t, &choices{data: data})
	})
}

// choices turns bytes into the choices a history makes, so that a seeded
// generator and a fuzzer drive the same code.
type choices struct {
	data []byte
}

func (c *choices) more() bool { return len(c.data) > 0 }

// intn returns a number in [0, n), or 0 once the bytes are used up.
func (c *choices) intn(n int) int {
	v := 0
	for r := 1; r < n && len(c.data) > 0; r <<= 8 {
		v = v<<8 | int(c.data[0])
		c.data = c.data[1:]
	}
	return v % n
}

// element is one element of a part as a history writes it: a type, a
// name and the bytes of a value, not necessarily of that type.
type element struct {
	typ   byte
	name  string
	value []byte
}

// encodePart frames elements as a BSON document.
func encodePart(elems []element) []byte {
	raw := []byte{0, 0, 0, 0}
	for _, e := range elems {
		raw = append(raw, e.typ)
		raw = append(raw, e.name...)
		raw = append(raw, 0)
		raw = append(raw, e.value...)
	}
	raw = append(raw, 0)
	binary.LittleEndian.PutUint32(raw, uint32(len(raw)))
	return raw
}

// spellings name fields 0, 1, 2 and 10 as a batcher writes them, with
// leading zeros and in upper case; oddNames are names a careful reader
// alone accepts (17 digits) or no reader does.
var (
	spellings = []string{"0", "00", "000", "1", "01", "2", "a", "A", "0a", "00A"}
	oddNames  = []string{"00000000000000001", "zz", "", "-1", "7fffffffffffffff"}
)

// word returns a word of a few bits, or, a third of the time, of none.
func (c *choices) word() int64 {
	if c.intn(3) == 0 {
		return 0
	}
	return int64(1 + c.intn(15))
}

// integer returns the bytes of n as an int64 or, when it fits, an int32.
func (c *choices) integer(n int64) (byte, []byte) {
	if c.intn(3) == 0 && n == int64(int32(n)) {
		return bsonraw.TypeInt32, binary.LittleEndian.AppendUint32(nil, uint32(n))
	}
	return bsonraw.TypeInt64, binary.LittleEndian.AppendUint64(nil, uint64(n))
}

// batcherField returns a field of a batcher's name, however spelled, and
// a word.
func (c *choices) batcherField() element {
	e := element{name: spellings[c.intn(len(spellings))]}
	e.typ, e.value = c.integer(c.word())
	return e
}

// oddField returns a field that no batcher writes: of an odd name, a
// double, a string, negative, or using the sign bit's neighbour.
func (c *choices) oddField() element {
	e := c.batcherField()
	switch c.intn(6) {
	case 0:
		e.name = oddNames[c.intn(len(oddNames))]
	case 1:
		e.typ, e.value = bsonraw.TypeDouble, binary.LittleEndian.AppendUint64(nil, math.Float64bits(1))
	case 2:
		e.typ, e.value = bsonraw.TypeString, []byte{2, 0, 0, 0, '1', 0}
	case 3:
		e.typ, e.value = c.integer(-1 - int64(c.intn(4)))
	case 4:
		e.typ, e.value = c.integer(math.MinInt64)
	default:
		e.typ, e.value = c.integer(1<<62 | 1)
	}
	return e
}

// historyPart is a part as a history last wrote it.
type historyPart struct {
	elems []element
	raw   []byte // elems encoded, or those bytes damaged; nil when the part is absent
}

// write sets the part's bytes from its elements.
func (p *historyPart) write() { p.raw = encodePart(p.elems) }

// checkViewHistory drives a view through reads of the live slot documents
// as c shapes them: parts that grow as a batcher grows them, and parts
// written by anyone, with fields renamed, spelled twice, of no bits,
// negative or of the wrong type, bytes cut short or damaged, parts
// absent, slots leaving and coming back. After every read, what it
// reports moving is what separates fresh careful decodes of the bytes
// before and after, and once it is applied, the view's word of every field
// is the fresh decode's.
func checkViewHistory(t *testing.T, c *choices) {
	slot := int64(60)
	parts := map[int64]*[2]historyPart{30: {}, 60: {}}
	hidden := map[int64]bool{} // slots a read does not find
	var v View
	var before map[int64]Word // fresh decode of the last applied read
	var reads []historyRead   // the reads so far, for a failure's message
	for step := 0; c.more(); step++ {
		s := slot - 30*int64(c.intn(2))
		p := &parts[s][c.intn(2)]
		switch op := c.intn(32); {
		case op == 0: // the next slot starts, the oldest leaves
			delete(parts, slot-30)
			delete(hidden, slot-30)
			slot += 30
			parts[slot] = &[2]historyPart{}
		case op == 1: // a read misses a slot, or finds it again
			hidden[s] = !hidden[s]
		case op == 2:
			*p = historyPart{}
		case op == 3: // a part is rewritten: shuffled, maybe one field fewer
			for i := len(p.elems) - 1; i > 0; i-- {
				j := c.intn(i + 1)
				p.elems[i], p.elems[j] = p.elems[j], p.elems[i]
			}
			if len(p.elems) > 0 && c.intn(2) == 0 {
				p.elems = p.elems[1:]
			}
			p.write()
		case op == 4: // its bytes are cut short, changed or added to
			if len(p.raw) == 0 {
				break
			}
			raw := slices.Clone(p.raw)
			switch c.intn(3) {
			case 0:
				raw = raw[:c.intn(len(raw))]
			case 1:
				raw[c.intn(len(raw))] = byte(c.intn(256))
			default:
				raw = append(raw, byte(c.intn(256)))
			}
			p.raw = raw
		case op <= 8: // a field is added or replaces one, mostly a batcher's
			e := c.batcherField()
			if op == 5 {
				e = c.oddField()
			}
			if len(p.elems) > 0 && c.intn(2) == 0 {
				p.elems[c.intn(len(p.elems))] = e
			} else {
				p.elems = append(p.elems, e)
			}
			p.write()
		case op <= 12: // a field's value is set in place to a word, maybe none
			if len(p.elems) == 0 {
				break
			}
			e := &p.elems[c.intn(len(p.elems))]
			e.typ, e.value = c.integer(c.word())
			p.write()
		default: // a batcher ORs a bit into its field, adding it if it must
			name := strconv.FormatInt([]int64{0, 1, 2, 10}[c.intn(4)], 16)
			bit := uint64(1) << c.intn(4)
			i := slices.IndexFunc(p.elems, func(e element) bool { return e.name == name })
			if i < 0 {
				p.elems = append(p.elems, element{typ: bsonraw.TypeInt64, name: name, value: make([]byte, 8)})
				i = len(p.elems) - 1
			}
			switch e := &p.elems[i]; e.typ {
			case bsonraw.TypeInt64:
				e.value = binary.LittleEndian.AppendUint64(nil, binary.LittleEndian.Uint64(e.value)|bit)
			case bsonraw.TypeInt32:
				e.value = binary.LittleEndian.AppendUint32(nil, binary.LittleEndian.Uint32(e.value)|uint32(bit))
			}
			p.write()
		}

		var docs []Doc
		for _, s := range []int64{slot - 30, slot} {
			if d, ok := parts[s]; ok && !hidden[s] {
				docs = append(docs, Doc{Slot: s, Alive: d[0].raw, Dead: d[1].raw})
			}
		}
		fail := func(format string, args ...interface{}) {
			t.Helper()
			t.Fatalf("step %d: %s\nreads, the last first:\n%s", step, fmt.Sprintf(format, args...), describeReads(append(reads, historyRead{docs, false}), 6))
		}

		after := freshWords(docs)
		r := v.Read(docs, func(int64, string) {})
		if want := moved(before, after); !slices.Equal(r.Changes(), want) {
			fail("the read reports %v, fresh decodes %v", r.Changes(), want)
		}
		for _, index := range indexes(before, after) {
			b, a := before[index], after[index]
			layout.EachSeq(index, b.Alive|b.Dead|a.Alive|a.Dead, func(seq int64) {
				if got, want := r.StateOf(seq), stateOf(a, 1<<(seq-index*layout.BitsPerField)); got != want {
					fail("the read leaves seq %d %v, a fresh decode %v", seq, got, want)
				}
			})
		}
		if c.intn(8) == 0 {
			reads = append(reads, historyRead{docs, false})
			continue
		}
		r.Apply()
		for _, index := range indexes(after, viewWords(&v)) {
			if got, want := v.word(index), after[index]; got != want {
				fail("field %d is %+v in the view, %+v in a fresh decode", index, got, want)
			}
		}
		before = after
		reads = append(reads, historyRead{docs, true})
	}
}

// freshWords decodes the parts of docs afresh, carefully, into the word of
// every field over them.
func freshWords(docs []Doc) map[int64]Word {
	words := make(map[int64]Word)
	for _, d := range docs {
		for p, raw := range [2][]byte{d.Alive, d.Dead} {
			if raw == nil {
				continue
			}
			part := make(map[int64]uint64)
			layout.DecodePartCarefully(raw, part, func(string) {})
			for index, bits := range part {
				w := words[index]
				if p == alivePart {
					w.Alive |= bits
				} else {
					w.Dead |= bits
				}
				words[index] = w
			}
		}
	}
	return words
}

// moved returns the sequences whose state differs between two sets of
// words, with their state in the second, in increasing order.
func moved(before, after map[int64]Word) []SeqState {
	var changes []SeqState
	for _, index := range indexes(before, after) {
		b, a := before[index], after[index]
		layout.EachSeq(index, (b.Alive^a.Alive)|(b.Dead^a.Dead), func(seq int64) {
			changes = append(changes, SeqState{seq, stateOf(a, 1<<(seq-index*layout.BitsPerField))})
		})
	}
	return changes
}

// viewWords returns the view's word of every field it holds bits of.
func viewWords(v *View) map[int64]Word {
	words := make(map[int64]Word)
	for _, d := range v.docs {
		for p := range d.parts {
			for index := range d.parts[p].words {
				words[index] = v.word(index)
			}
		}
	}
	return words
}

// indexes returns the fields of either set of words, in increasing order.
func indexes(a, b map[int64]Word) []int64 {
	var all []int64
	for index := range a {
		all = append(all, index)
	}
	for index := range b {
		if _, ok := a[index]; !ok {
			all = append(all, index)
		}
	}
	slices.Sort(all)
	return all
}

// historyRead is one read of a history, for a failure's message.
type historyRead struct {
	docs    []Doc
	applied bool
}

// describeReads renders the last n reads, the last first, a line each,
// element by element.
func describeReads(reads []historyRead, n int) string {
	var b strings.Builder
	for i := len(reads) - 1; i >= 0 && i >= len(reads)-n; i-- {
		if !reads[i].applied {
			b.WriteString("(not applied) ")
		}
		for _, d := range reads[i].docs {
			fmt.Fprintf(&b, "slot %d: alive %s, dead %s; ", d.Slot, describePart(d.Alive), describePart(d.Dead))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func describePart(raw []byte) string {
	if raw == nil {
		return "absent"
	}
	var elems []string
	it := bsonraw.NewIter(raw)
	for it.Next() {
		e := it.Element()
		elems = append(elems, fmt.Sprintf("%q: %s", e.Name, e.Describe()))
	}
	if err := it.Err(); err != nil {
		elems = append(elems, "("+err.Error()+")")
	}
	return "{" + strings.Join(elems, ", ") + "}"
}
