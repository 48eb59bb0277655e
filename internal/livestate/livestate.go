// Package livestate turns the bits of the live slots into per-key liveness
// and tells what changed since the last look.
//
// A View holds what a watcher read of the live slot documents and yields,
// read after read, only the sequences whose state moved, so a sync costs
// time in proportion to what changed; the parts of the documents are
// decoded, whole or as they grew, by package layout. A Tracker keeps which
// key each seen sequence belongs to and decides each key's liveness: among
// the sequences seen for a key, the newest one wins, and it is alive when
// its alive bit is set and its dead bit is not.
//
// Nothing here touches a database, a clock or a goroutine.
package livestate

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
