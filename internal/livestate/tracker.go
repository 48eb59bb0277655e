package livestate

// Tracker follows the seen sequences of every key and their liveness: among
// the sequences seen for a key, the newest one wins, and the key is alive
// when that one's state is alive and not dead.
//
// It is laid out to be small, since a watcher keeps one entry per live
// agent of its model: each key is one record (its name and its newest
// sequence) found through an open-addressing index of 4-byte slots, and
// each sequence one 12-byte slot of a second open-addressing table that
// names its record and holds its state. The other sequences of a key, seen
// while a restarted agent's old sequence is still live, are kept aside.
//
// It is not safe for concurrent use: one watcher loop owns it.
type Tracker struct {
	records []record
	free    []int32           // ids of records not in use
	byKey   keyIndex          // key → record id
	bySeq   seqTable          // seq → record id and state
	older   map[int32][]int64 // the other seen sequences of a record's key, if any
	live    int               // keys alive
	arena   keyArena          // the keys' bytes
	// aliveBits has a bit per record id, set when its key is alive: the
	// state of its newest sequence, kept at hand.
	aliveBits idBits

	// Between Begin and End, the keys Set touches are noted with their
	// liveness before the first touch, and a record whose last sequence
	// goes keeps its key until End, so that a key that loses its sequence
	// and gains another in the same batch stays one record.
	batch   bool
	touched []touchedKey
	marked  idBits  // the record ids noted in touched
	dormant []int32 // records left without a sequence since Begin
}

// touchedKey is a key Set touched since Begin, and whether it was alive.
type touchedKey struct {
	id  int32
	was bool
	key string
}

// record is one key, kept in the tracker's key arena, and the newest of
// its seen sequences; newest is -1 while the record has no sequence. It
// holds no pointer, so the garbage collector does not look into records.
type record struct {
	ref    uint32 // where the key is in the arena: chunk<<16 | offset
	size   uint32 // the key's length in bytes
	newest int64
}

// keyOf returns the key of record id, without copying it.
func (t *Tracker) keyOf(id int32) string {
	return t.arena.get(t.records[id].ref, t.records[id].size)
}

// NewTracker returns an empty tracker.
func NewTracker() *Tracker {
	return &Tracker{
		byKey: newKeyIndex(),
		bySeq: newSeqTable(),
		older: make(map[int32][]int64),
	}
}

// KeyOf returns the key that seq belongs to, if the tracker holds it.
func (t *Tracker) KeyOf(seq int64) (string, bool) {
	id, _, ok := t.bySeq.get(seq)
	if !ok {
		return "", false
	}
	return t.keyOf(id), true
}

// Alive reports whether key is alive.
func (t *Tracker) Alive(key string) bool {
	id, ok := t.byKey.get(t, key)
	return ok && t.aliveAt(id)
}

// aliveAt reports whether the key of record id is alive, from the bit set
// kept for it.
func (t *Tracker) aliveAt(id int32) bool { return t.aliveBits.has(id) }

// idBits is a set of record ids, a bit per id.
type idBits []uint64

func (b idBits) has(id int32) bool {
	word := int(id / 64)
	return word < len(b) && b[word]&(1<<uint(id%64)) != 0
}

// set puts id in the set (in) or takes it out, growing the set as needed.
func (b *idBits) set(id int32, in bool) {
	word, bit := int(id/64), uint64(1)<<uint(id%64)
	for word >= len(*b) {
		*b = append(*b, 0)
	}
	if in {
		(*b)[word] |= bit
	} else {
		(*b)[word] &^= bit
	}
}

// LiveCount returns how many keys are alive.
func (t *Tracker) LiveCount() int { return t.live }

// SeqCount returns how many sequences the tracker holds.
func (t *Tracker) SeqCount() int { return t.bySeq.count }

// EachAlive calls fn for every live key.
func (t *Tracker) EachAlive(fn func(key string)) {
	for id := range t.records {
		if t.records[id].newest >= 0 && t.aliveAt(int32(id)) {
			fn(t.keyOf(int32(id)))
		}
	}
}

// EachKey calls fn for every key the tracker holds, with its liveness.
func (t *Tracker) EachKey(fn func(key string, alive bool)) {
	for id := range t.records {
		if t.records[id].newest >= 0 {
			fn(t.keyOf(int32(id)), t.aliveAt(int32(id)))
		}
	}
}

// Begin starts noting which keys Set touches, so that End can tell which
// keys' liveness moved over several changes, each key once.
func (t *Tracker) Begin() {
	t.batch = true
}

// End calls fn, in the order they were first touched since Begin, for the
// keys whose liveness differs from what it was at Begin, with their
// liveness now.
func (t *Tracker) End(fn func(key string, alive bool)) {
	for _, tk := range t.touched {
		alive := t.records[tk.id].newest >= 0 && t.aliveAt(tk.id)
		if alive != tk.was {
			fn(tk.key, alive)
		}
		t.marked.set(tk.id, false)
	}
	t.touched = reuse(t.touched)
	t.batch = false
	for _, id := range t.dormant {
		if r := t.records[id]; r.newest < 0 && r.size > 0 {
			t.release(id)
		}
	}
	t.dormant = reuse(t.dormant)
}

// scratchKept is the most entries a scratch list keeps between batches. A
// watcher's first sync touches every key at once; keeping a list that
// long for the watcher's life would cost as much as the keys themselves.
const scratchKept = 4096

// reuse empties a scratch list for the next batch, dropping its array when
// a batch much larger than usual grew it.
func reuse[T any](list []T) []T {
	if cap(list) > scratchKept {
		return nil
	}
	clear(list)
	return list[:0]
}

// release frees record id, which has no sequence left.
func (t *Tracker) release(id int32) {
	t.byKey.remove(t, id)
	t.arena.drop(t.records[id].size)
	t.records[id] = record{newest: -1}
	t.free = append(t.free, id)
	if t.arena.wasteful() {
		t.compact()
	}
}

// compact copies the keys of the records in use into a fresh arena. The
// strings handed out before keep the old chunks alive for as long as they
// are used.
func (t *Tracker) compact() {
	var fresh keyArena
	for id := range t.records {
		if r := &t.records[id]; r.size > 0 {
			r.ref = fresh.add(t.arena.get(r.ref, r.size))
		}
	}
	t.arena = fresh
}

// note records, between Begin and End, the liveness of record id before
// its first touch.
func (t *Tracker) note(id int32, was bool) {
	if !t.batch {
		return
	}
	if t.marked.has(id) {
		return
	}
	t.marked.set(id, true)
	t.touched = append(t.touched, touchedKey{id, was, t.keyOf(id)})
}

// Set records that seq, of key, is now in state st; Unseen forgets it. It
// returns the key's liveness afterwards and whether that changed.
func (t *Tracker) Set(seq int64, key string, st State) (alive, changed bool) {
	// A sequence belongs to one key: a known one is found by its number,
	// and its record by the table, without hashing the key.
	id, oldState, seen := t.bySeq.get(seq)
	known := seen
	if !seen {
		id, known = t.byKey.get(t, key)
	}
	return t.set(id, known, seq, seen, oldState, key, st)
}

// Update records that seq, which the tracker holds, is now in state st,
// like Set. It reports false, and does nothing, for a sequence it does not
// hold.
func (t *Tracker) Update(seq int64, st State) (alive, changed, ok bool) {
	id, oldState, seen := t.bySeq.get(seq)
	if !seen {
		return false, false, false
	}
	alive, changed = t.set(id, true, seq, true, oldState, "", st)
	return alive, changed, true
}

func (t *Tracker) set(id int32, known bool, seq int64, seen bool, oldState State, key string, st State) (alive, changed bool) {
	was := known && t.aliveAt(id)
	if known {
		t.note(id, was)
	}
	switch {
	case seen && st == oldState:
		return was, false
	case st == Unseen && !seen:
		return was, false
	case st == Unseen:
		t.bySeq.remove(seq)
		t.forget(id, seq)
	case seen:
		t.bySeq.put(seq, id, st)
	default:
		if !known {
			id = t.newRecord(key)
			t.note(id, false)
		}
		t.bySeq.put(seq, id, st)
		t.add(id, seq)
	}
	r := &t.records[id]
	switch {
	case r.newest < 0:
		alive = false
	case r.newest == seq:
		alive = st.live()
	default:
		_, newest, _ := t.bySeq.get(r.newest)
		alive = newest.live()
	}
	t.aliveBits.set(id, alive)
	if alive != was {
		if alive {
			t.live++
		} else {
			t.live--
		}
	}
	return alive, alive != was
}

func (t *Tracker) newRecord(key string) int32 {
	r := record{ref: t.arena.add(key), size: uint32(len(key)), newest: -1}
	var id int32
	if n := len(t.free); n > 0 {
		id = t.free[n-1]
		t.free = t.free[:n-1]
		t.records[id] = r
	} else {
		id = int32(len(t.records))
		t.records = append(t.records, r)
	}
	t.byKey.put(t, id)
	return id
}

// add records that the key of record id has the sequence seq too.
func (t *Tracker) add(id int32, seq int64) {
	r := &t.records[id]
	switch {
	case r.newest < 0:
		r.newest = seq
	case seq > r.newest:
		t.older[id] = append(t.older[id], r.newest)
		r.newest = seq
	default:
		t.older[id] = append(t.older[id], seq)
	}
}

// forget removes seq from the sequences of record id, and frees the record
// when it was the last.
func (t *Tracker) forget(id int32, seq int64) {
	r := &t.records[id]
	others := t.older[id]
	if seq == r.newest {
		if len(others) == 0 {
			if t.batch {
				r.newest = -1
				t.dormant = append(t.dormant, id)
			} else {
				t.release(id)
			}
			return
		}
		best := 0
		for i, s := range others {
			if s > others[best] {
				best = i
			}
		}
		r.newest = others[best]
		others[best] = others[len(others)-1]
		others = others[:len(others)-1]
	} else {
		for i, s := range others {
			if s == seq {
				others[i] = others[len(others)-1]
				others = others[:len(others)-1]
				break
			}
		}
	}
	if len(others) == 0 {
		delete(t.older, id)
	} else {
		t.older[id] = others
	}
}
