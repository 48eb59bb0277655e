package livestate

import "unsafe"

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
