package livestate

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/juju/mgo/v2/bson"

	"github.com/presence-go/presence/internal/layout"
)

// fields encodes the alive or dead part of a slot document from
// (field name, value) pairs, in that order.
func fields(t testing.TB, pairs ...interface{}) []byte {
	t.Helper()
	var d bson.D
	for i := 0; i < len(pairs); i += 2 {
		d = append(d, bson.DocElem{Name: pairs[i].(string), Value: pairs[i+1]})
	}
	raw, err := bson.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

type seqChange struct {
	seq int64
	st  State
}

// update runs v.Update and returns the changes it reported, by sequence,
// and the problems.
func update(v *View, docs ...Doc) (changes []seqChange, problems []string) {
	r := v.Read(docs, func(slot int64, problem string) {
		problems = append(problems, strconv.FormatInt(slot, 10)+": "+problem)
	})
	for _, c := range r.Changes() {
		changes = append(changes, seqChange{c.Seq, c.State})
	}
	r.Apply()
	return changes, problems
}

func TestViewFirstReadReportsEverySequence(t *testing.T) {
	var v View
	got, problems := update(&v,
		Doc{Slot: 30, Alive: fields(t, "0", int64(1<<1|1<<2|1<<3))},
		Doc{Slot: 60, Alive: fields(t, "0", int64(1<<2), "1", int64(1)), Dead: fields(t, "0", int64(1<<3))})
	want := []seqChange{{1, Alive}, {2, Alive}, {3, Alive | Dead}, {63, Alive}}
	if !slices.Equal(got, want) || problems != nil {
		t.Errorf("got %v %v, want %v", got, problems, want)
	}
	if st := v.StateOf(3); st != Alive|Dead {
		t.Errorf("StateOf(3) = %v", st)
	}
	if n := v.Len(); n != 4 {
		t.Errorf("Len = %d, want 4", n)
	}
}

func TestViewSameBytesReportNothing(t *testing.T) {
	var v View
	docs := []Doc{{Slot: 30, Alive: fields(t, "0", int64(6))}, {Slot: 60, Dead: fields(t, "0", int64(4))}}
	update(&v, docs...)
	if got, _ := update(&v, docs...); got != nil {
		t.Errorf("the same documents again reported %v", got)
	}
}

func TestViewGrownPartReportsOnlyWhatIsNew(t *testing.T) {
	var v View
	update(&v, Doc{Slot: 60, Alive: fields(t, "0", int64(1<<1), "1", int64(1<<2))})
	// Field 1 gains a bit, and field 2 is added at the end.
	got, problems := update(&v, Doc{Slot: 60, Alive: fields(t, "0", int64(1<<1), "1", int64(1<<2|1<<5), "2", int32(1))})
	want := []seqChange{{63 + 5, Alive}, {126, Alive}}
	if !slices.Equal(got, want) || problems != nil {
		t.Errorf("got %v %v, want %v", got, problems, want)
	}
}

func TestViewSlotShift(t *testing.T) {
	var v View
	update(&v,
		Doc{Slot: 30, Alive: fields(t, "0", int64(1<<1|1<<2))},
		Doc{Slot: 60, Alive: fields(t, "0", int64(1<<2|1<<3))})
	// Slot 30 leaves: seq 1 pinged only there; seq 2 also pinged in 60,
	// which stays, and 90 starts with a kill of seq 3.
	got, _ := update(&v,
		Doc{Slot: 60, Alive: fields(t, "0", int64(1<<2|1<<3))},
		Doc{Slot: 90, Dead: fields(t, "0", int64(1<<3))})
	want := []seqChange{{1, Unseen}, {3, Alive | Dead}}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestViewRewrittenPartIsDecodedWhole(t *testing.T) {
	var v View
	update(&v, Doc{Slot: 60, Alive: fields(t, "0", int64(1<<1), "1", int64(1<<1))})
	// Someone rewrote the part: fields in another order, one gone.
	got, problems := update(&v, Doc{Slot: 60, Alive: fields(t, "2", int64(1), "0", int64(1<<1|1<<4))})
	want := []seqChange{{4, Alive}, {64, Unseen}, {126, Alive}}
	if !slices.Equal(got, want) || problems != nil {
		t.Errorf("got %v %v, want %v", got, problems, want)
	}
}

func TestViewCorruptFieldsAreReportedOnceAndSkipped(t *testing.T) {
	var v View
	doc := Doc{Slot: 60, Alive: fields(t, "0", int64(1<<1), "zz", int64(1), "1", 1.5, "2", int64(-3), "3", int64(1))}
	got, problems := update(&v, doc)
	want := []seqChange{{1, Alive}, {189, Alive}}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if len(problems) != 3 || !strings.Contains(strings.Join(problems, "|"), "60: alive.") {
		t.Errorf("problems %q; want three, naming the slot and the part", problems)
	}
	if _, again := update(&v, doc); again != nil {
		t.Errorf("the same corrupt bytes were reported again: %q", again)
	}
}

// TestViewMatchesAFreshDecode drives a view through a long random history
// of live slot documents (parts that grow, are rewritten, disappear, slots
// that shift) and checks after every read that the view's state of every
// sequence is what decoding the documents afresh gives, and that it
// reported exactly the sequences whose state moved.
func TestViewMatchesAFreshDecode(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	const maxSeq = 400
	type partModel struct {
		order []int64 // field indexes in document order
		words map[int64]uint64
	}
	encode := func(p *partModel) []byte {
		if p == nil || len(p.order) == 0 {
			return nil
		}
		var pairs []interface{}
		for _, index := range p.order {
			pairs = append(pairs, strconv.FormatInt(index, 16), int64(p.words[index]))
		}
		return fields(t, pairs...)
	}
	newPart := func() *partModel { return &partModel{words: map[int64]uint64{}} }
	// The documents by slot, alive and dead parts.
	docs := map[int64][2]*partModel{}
	slot := int64(30)
	docs[slot] = [2]*partModel{newPart(), newPart()}
	stateIn := func(live []int64, seq int64) State {
		var w Word
		for _, s := range live {
			d := docs[s]
			w.Alive |= d[0].words[seq/layout.BitsPerField]
			w.Dead |= d[1].words[seq/layout.BitsPerField]
		}
		return stateOf(w, uint64(1)<<uint(seq%layout.BitsPerField))
	}
	var v View
	previous := make([]State, maxSeq)
	// stateIn judges by the documents as they are now; a read left
	// unapplied is judged again, with more changes, at the next step.
	for step := 0; step < 3000; step++ {
		switch r := rng.IntN(100); {
		case r < 5: // the next slot starts
			slot += 30
			docs[slot] = [2]*partModel{newPart(), newPart()}
			delete(docs, slot-60)
		case r < 10: // a part is rewritten: shuffled, some fields dropped
			p := docs[slot-30*int64(rng.IntN(2))][rng.IntN(2)]
			if p == nil {
				break
			}
			rng.Shuffle(len(p.order), func(i, j int) { p.order[i], p.order[j] = p.order[j], p.order[i] })
			if len(p.order) > 0 && rng.IntN(2) == 0 {
				delete(p.words, p.order[0])
				p.order = p.order[1:]
			}
		default: // a ping or a kill ORs a bit in
			s := slot - 30*int64(rng.IntN(2))
			p := docs[s][0]
			if rng.IntN(5) == 0 {
				p = docs[s][1]
			}
			if p == nil {
				break
			}
			seq := int64(rng.IntN(maxSeq))
			index := seq / layout.BitsPerField
			if _, ok := p.words[index]; !ok {
				p.order = append(p.order, index)
			}
			p.words[index] |= 1 << uint(seq%layout.BitsPerField)
		}
		var read []Doc
		var live []int64
		for _, s := range []int64{slot - 30, slot} {
			if d, ok := docs[s]; ok {
				read = append(read, Doc{Slot: s, Alive: encode(d[0]), Dead: encode(d[1])})
				live = append(live, s)
			}
		}
		reported := map[int64]State{}
		r := v.Read(read, func(_ int64, problem string) { t.Fatalf("step %d: problem %s", step, problem) })
		for _, c := range r.Changes() {
			if _, twice := reported[c.Seq]; twice {
				t.Fatalf("step %d: seq %d reported twice", step, c.Seq)
			}
			reported[c.Seq] = c.State
			if got := r.StateOf(c.Seq); got != c.State {
				t.Fatalf("step %d: the read says seq %d is %v, its change %v", step, c.Seq, got, c.State)
			}
		}
		if rng.IntN(10) == 0 {
			continue // a read that is not applied leaves the view as it was
		}
		r.Apply()
		for seq := int64(0); seq < maxSeq; seq++ {
			want := stateIn(live, seq)
			if got := v.StateOf(seq); got != want {
				t.Fatalf("step %d: StateOf(%d) = %v, want %v", step, seq, got, want)
			}
			st, ok := reported[seq]
			if moved := want != previous[seq]; moved != ok || ok && st != want {
				t.Fatalf("step %d: seq %d went %v → %v, reported %v (%v)", step, seq, previous[seq], want, st, ok)
			}
			previous[seq] = want
		}
	}
}

// TestViewReadsTwoSpellingsOfAFieldAsAFreshDecodeDoes pins down parts that
// name one field twice, once with no bits: a BSON reader keeps the last
// value, whatever the first one becomes.
func TestViewReadsTwoSpellingsOfAFieldAsAFreshDecodeDoes(t *testing.T) {
	for _, c := range []struct {
		name     string
		old, now []byte
		want     []seqChange
	}{
		{"leading zeros, the shadowed one gains bits",
			fields(t, "000", int64(0), "0", int64(4)), fields(t, "000", int64(5), "0", int64(4)), nil},
		{"leading zeros, the shadowed one takes other bits",
			fields(t, "000", int32(0), "0", int64(4)), fields(t, "000", int32(3), "0", int64(4)), nil},
		{"leading zeros, both change",
			fields(t, "000", int64(0), "0", int64(4)), fields(t, "000", int64(5), "0", int64(8)), []seqChange{{2, Unseen}, {3, Alive}}},
		{"upper case shadowed by lower case",
			fields(t, "A", int64(0), "a", int64(4)), fields(t, "A", int64(5), "a", int64(4)), nil},
		{"lower case shadowed by upper case",
			fields(t, "a", int64(0), "A", int64(4)), fields(t, "a", int64(3), "A", int64(4)), nil},
		{"a shadowed field added to a part",
			fields(t, "1", int64(2)), fields(t, "1", int64(2), "00a", int64(0), "a", int64(4)), []seqChange{{632, Alive}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var v View
			update(&v, Doc{Slot: 60, Alive: c.old})
			got, _ := update(&v, Doc{Slot: 60, Alive: c.now})
			if !slices.Equal(got, c.want) {
				t.Errorf("changes %v, want %v", got, c.want)
			}
			fresh := map[int64]uint64{}
			layout.DecodePartCarefully(c.now, fresh, func(string) {})
			for _, index := range []int64{0, 1, 0xa} {
				if got := v.word(index); got != (Word{Alive: fresh[index]}) {
					t.Errorf("word of field %d is %#x, a fresh decode reads %#x", index, got.Alive, fresh[index])
				}
			}
		})
	}
}
