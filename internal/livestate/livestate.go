// Package livestate turns the bits of the live slots into per-key liveness
// and tells what changed since the last look.
//
// A Window holds, for each field index, the alive and dead bits ORed over the
// live slots. Changed compares two windows and yields only the sequences
// whose state moved, so a sync costs time in proportion to what changed.
// A Tracker keeps which key each seen sequence belongs to and decides each
// key's liveness: among the sequences seen for a key, the newest one wins,
// and it is alive when its alive bit is set and its dead bit is not.
//
// Nothing here touches a database, a clock or a goroutine.
package livestate

import (
	"math/bits"

	"github.com/presence-go/presence/internal/bitfield"
)

// State is what the live slots say of one sequence.
type State uint8

const (
	// Unseen: the sequence has no bit in the live slots.
	Unseen State = 0
	// Alive: the sequence pinged in a live slot.
	Alive State = 1
	// Dead: the sequence was killed in a live slot. Dead wins over Alive.
	Dead State = 2
)

func (st State) live() bool { return st&Dead == 0 && st&Alive != 0 }

// Word is the alive and dead bits of one field over the live slots.
type Word struct {
	Alive, Dead uint64
}

// Window maps a field index to its bits over the live slots.
type Window map[int64]Word

// Add ORs the decoded fields of one slot document into w.
func (w Window) Add(alive, dead map[int64]uint64) {
	for index, set := range alive {
		word := w[index]
		word.Alive |= set
		w[index] = word
	}
	for index, set := range dead {
		word := w[index]
		word.Dead |= set
		w[index] = word
	}
}

// Len returns the number of sequences with any bit set in w.
func (w Window) Len() int {
	n := 0
	for _, word := range w {
		n += bits.OnesCount64(word.Alive | word.Dead)
	}
	return n
}

// Changed calls fn, in no particular order, for each sequence whose state
// in next differs from its state in prev, with the new state.
func Changed(prev, next Window, fn func(seq int64, st State)) {
	for index, nw := range next {
		pw := prev[index]
		if pw == nw {
			continue
		}
		emit(index, pw, nw, fn)
	}
	for index, pw := range prev {
		if _, ok := next[index]; !ok {
			emit(index, pw, Word{}, fn)
		}
	}
}

func emit(index int64, pw, nw Word, fn func(seq int64, st State)) {
	diff := (pw.Alive ^ nw.Alive) | (pw.Dead ^ nw.Dead)
	bitfield.EachSeq(index, diff, func(seq int64) {
		bit := uint64(1) << uint(seq-index*bitfield.BitsPerField)
		fn(seq, stateOf(nw, bit))
	})
}

// StateOf returns the state of seq in w.
func (w Window) StateOf(seq int64) State {
	index := seq / bitfield.BitsPerField
	return stateOf(w[index], uint64(1)<<uint(seq%bitfield.BitsPerField))
}

func stateOf(w Word, bit uint64) State {
	var st State
	if w.Alive&bit != 0 {
		st |= Alive
	}
	if w.Dead&bit != 0 {
		st |= Dead
	}
	return st
}

// seqState is one seen sequence of a key.
type seqState struct {
	seq   int64
	state State
}

// keyState is what the tracker knows of one key: its seen sequences
// (usually one; more while a restarted pinger's old sequence is still in the
// window) and the liveness they add up to.
type keyState struct {
	seqs  []seqState
	alive bool
}

// Tracker follows the seen sequences of every key and their liveness.
// It is not safe for concurrent use: one watcher loop owns it.
type Tracker struct {
	keyOf map[int64]string
	keys  map[string]keyState
	live  int
}

// NewTracker returns an empty tracker.
func NewTracker() *Tracker {
	return &Tracker{keyOf: make(map[int64]string), keys: make(map[string]keyState)}
}

// KeyOf returns the key that seq belongs to, if the tracker holds it.
func (t *Tracker) KeyOf(seq int64) (string, bool) {
	key, ok := t.keyOf[seq]
	return key, ok
}

// Alive reports whether key is alive.
func (t *Tracker) Alive(key string) bool {
	return t.keys[key].alive
}

// Seq returns the sequence that makes key alive, if it is.
func (t *Tracker) Seq(key string) (int64, bool) {
	ks, ok := t.keys[key]
	if !ok || !ks.alive {
		return 0, false
	}
	return newest(ks.seqs).seq, true
}

// LiveCount returns how many keys are alive.
func (t *Tracker) LiveCount() int { return t.live }

// SeqCount returns how many sequences the tracker holds.
func (t *Tracker) SeqCount() int { return len(t.keyOf) }

// EachAlive calls fn for every live key.
func (t *Tracker) EachAlive(fn func(key string)) {
	for key, ks := range t.keys {
		if ks.alive {
			fn(key)
		}
	}
}

// EachSeq calls fn for every sequence the tracker holds, with its key.
func (t *Tracker) EachSeq(fn func(seq int64, key string)) {
	for seq, key := range t.keyOf {
		fn(seq, key)
	}
}

// Set records that seq, of key, is now in state st; Unseen forgets it. It
// returns the key's liveness afterwards and whether that changed.
func (t *Tracker) Set(seq int64, key string, st State) (alive, changed bool) {
	ks := t.keys[key]
	was := ks.alive
	i := indexOf(ks.seqs, seq)
	switch {
	case st == Unseen && i < 0:
		return was, false
	case st == Unseen:
		ks.seqs = append(ks.seqs[:i], ks.seqs[i+1:]...)
		delete(t.keyOf, seq)
	case i < 0:
		ks.seqs = append(ks.seqs, seqState{seq, st})
		t.keyOf[seq] = key
	default:
		ks.seqs[i].state = st
	}
	if len(ks.seqs) == 0 {
		delete(t.keys, key)
		ks.alive = false
	} else {
		ks.alive = newest(ks.seqs).state.live()
		t.keys[key] = ks
	}
	if ks.alive != was {
		if ks.alive {
			t.live++
		} else {
			t.live--
		}
	}
	return ks.alive, ks.alive != was
}

func indexOf(seqs []seqState, seq int64) int {
	for i, s := range seqs {
		if s.seq == seq {
			return i
		}
	}
	return -1
}

func newest(seqs []seqState) seqState {
	best := seqs[0]
	for _, s := range seqs[1:] {
		if s.seq > best.seq {
			best = s
		}
	}
	return best
}
