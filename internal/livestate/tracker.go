package livestate

import (
	"hash/maphash"
	"unsafe"
)

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

// seqTable maps a sequence to a record id and a state, by open addressing
// with linear probing: a 12-byte slot (one cache line holds five), at most
// three quarters full.
type seqTable struct {
	slots []seqSlot
	count int
}

type seqSlot struct {
	// The sequence, in two halves so that the slot is 12 bytes, not 16
	// with padding: at a million keys that is 8 MB less.
	seqLo, seqHi uint32
	ref          uint32 // record id + 1, shifted left by 2, with the state; 0 when the slot is empty
}

func (e *seqSlot) seq() int64 { return int64(uint64(e.seqHi)<<32 | uint64(e.seqLo)) }

func (e *seqSlot) setSeq(seq int64) {
	e.seqLo, e.seqHi = uint32(seq), uint32(uint64(seq)>>32)
}

func newSeqTable() seqTable {
	return seqTable{slots: make([]seqSlot, 8)}
}

// home returns the slot where seq's probe run starts. A multiplicative
// hash spreads the consecutive numbers sequences are.
func (s *seqTable) home(seq int64) int {
	return int(uint64(seq)*0x9E3779B97F4A7C15>>32) & (len(s.slots) - 1)
}

// slot returns where seq is, or the empty slot where it would go.
func (s *seqTable) slot(seq int64) int {
	mask := len(s.slots) - 1
	i := s.home(seq)
	for s.slots[i].ref != 0 && s.slots[i].seq() != seq {
		i = (i + 1) & mask
	}
	return i
}

func (s *seqTable) get(seq int64) (int32, State, bool) {
	ref := s.slots[s.slot(seq)].ref
	if ref == 0 {
		return 0, Unseen, false
	}
	return int32(ref>>2) - 1, State(ref & 3), true
}

func (s *seqTable) put(seq int64, id int32, st State) {
	i := s.slot(seq)
	if s.slots[i].ref == 0 {
		if 4*(s.count+1) > 3*len(s.slots) {
			s.grow()
			i = s.slot(seq)
		}
		s.count++
		s.slots[i].setSeq(seq)
	}
	s.slots[i].ref = uint32(id+1)<<2 | uint32(st&3)
}

func (s *seqTable) grow() {
	old := s.slots
	s.slots = make([]seqSlot, 2*len(old))
	for _, e := range old {
		if e.ref != 0 {
			s.slots[s.slot(e.seq())] = e
		}
	}
}

// remove deletes seq, moving back the entries of its probe run that
// follow it so that no lookup meets a hole before its own slot.
func (s *seqTable) remove(seq int64) {
	i := s.slot(seq)
	if s.slots[i].ref == 0 {
		return
	}
	mask := len(s.slots) - 1
	s.slots[i] = seqSlot{}
	s.count--
	for j := (i + 1) & mask; s.slots[j].ref != 0; j = (j + 1) & mask {
		if fillsHole(i, j, s.home(s.slots[j].seq())) {
			s.slots[i] = s.slots[j]
			s.slots[j] = seqSlot{}
			i = j
		}
	}
}

// fillsHole reports whether the entry at slot j of a linear-probing table,
// whose probe run starts at home, may move back to the hole at slot i that
// precedes it in its run: it may unless home lies cyclically in (i, j].
func fillsHole(i, j, home int) bool {
	return (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)
}

// keyIndex finds a key's record by open addressing with linear probing
// over 4-byte slots holding record id + 1, the key itself living in the
// record.
type keyIndex struct {
	seed  maphash.Seed
	slots []int32
	count int
}

func newKeyIndex() keyIndex {
	return keyIndex{seed: maphash.MakeSeed(), slots: make([]int32, 8)}
}

func (k *keyIndex) home(key string) int {
	return int(maphash.String(k.seed, key)) & (len(k.slots) - 1)
}

// slot returns where key's record is listed, or the empty slot where it
// would go.
func (k *keyIndex) slot(t *Tracker, key string) int {
	mask := len(k.slots) - 1
	i := k.home(key)
	for k.slots[i] != 0 && t.keyOf(k.slots[i]-1) != key {
		i = (i + 1) & mask
	}
	return i
}

func (k *keyIndex) get(t *Tracker, key string) (int32, bool) {
	i := k.slot(t, key)
	if k.slots[i] == 0 {
		return 0, false
	}
	return k.slots[i] - 1, true
}

// put lists record id, whose key is not listed yet.
func (k *keyIndex) put(t *Tracker, id int32) {
	if 4*(k.count+1) > 3*len(k.slots) {
		old := k.slots
		k.slots = make([]int32, 2*len(old))
		for _, ref := range old {
			if ref != 0 {
				k.slots[k.slot(t, t.keyOf(ref-1))] = ref
			}
		}
	}
	k.slots[k.slot(t, t.keyOf(id))] = id + 1
	k.count++
}

// remove unlists record id, moving back the entries of its probe run that
// follow it.
func (k *keyIndex) remove(t *Tracker, id int32) {
	i := k.slot(t, t.keyOf(id))
	if k.slots[i] == 0 {
		return
	}
	mask := len(k.slots) - 1
	k.slots[i] = 0
	k.count--
	for j := (i + 1) & mask; k.slots[j] != 0; j = (j + 1) & mask {
		if fillsHole(i, j, k.home(t.keyOf(k.slots[j]-1))) {
			k.slots[i] = k.slots[j]
			k.slots[j] = 0
			i = j
		}
	}
}

// keyArena keeps keys' bytes in chunks that are never moved or reused, so
// that the strings it hands out, pointing into them, stay valid.
type keyArena struct {
	chunks [][]byte
	used   int // bytes of keys in use
	total  int // bytes of keys written
}

// arenaChunk is the largest size of a chunk; a key (at most 4096 bytes)
// always fits, and an offset in a chunk fits in 16 bits. The first chunks
// are smaller, each twice the one before, so that a watcher of a few keys
// keeps little.
const (
	arenaChunk      = 1 << 16
	arenaFirstChunk = 1 << 10
)

// add copies key into the arena and returns where it is. A chunk is never
// grown past its capacity: keys handed out point into it.
func (a *keyArena) add(key string) uint32 {
	n := len(a.chunks)
	if n == 0 || len(a.chunks[n-1])+len(key) > cap(a.chunks[n-1]) {
		size := arenaFirstChunk
		if n > 0 {
			size = min(2*cap(a.chunks[n-1]), arenaChunk)
		}
		a.chunks = append(a.chunks, make([]byte, 0, max(size, len(key))))
		n++
	}
	c := &a.chunks[n-1]
	off := len(*c)
	*c = append(*c, key...)
	a.used += len(key)
	a.total += len(key)
	return uint32(n-1)<<16 | uint32(off)
}

// get returns the key of size bytes at ref.
func (a *keyArena) get(ref, size uint32) string {
	if size == 0 {
		return ""
	}
	return unsafe.String(&a.chunks[ref>>16][ref&0xFFFF], int(size))
}

// drop notes that size bytes of keys are no longer used.
func (a *keyArena) drop(size uint32) {
	a.used -= int(size)
}

// wasteful reports whether most of the arena holds keys no longer used,
// and enough of it to be worth copying the rest out.
func (a *keyArena) wasteful() bool {
	return a.total-a.used > arenaChunk && a.total-a.used > a.used
}
