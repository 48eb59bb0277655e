package livestate

import "hash/maphash"

// The tracker's two open-addressing tables: a sequence to its record and
// state, and a key to its record.

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
