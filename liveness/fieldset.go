package liveness

import "iter"

// fieldSet is the bits of the fields of one slot document that wait to be
// written, by field index. Fields are kept in pages of neighbouring
// indexes, so that the index a ping reaches is one small map of pages (a
// page for every pageFields fields, which stays in the processor's caches
// even for a million agents' fields) and the page itself, and a run of
// pings to the same page skips the map.
type fieldSet struct {
	pages    map[uint64]*fieldPage // by field index / pageFields
	last     *fieldPage            // the page of the previous ping
	lastPage uint64                // its number
}

// pageFields is how many neighbouring fields share a page: a page is 128
// bytes, two cache lines.
const pageFields = 16

type fieldPage [pageFields]uint64

// or adds bits to field.
func (f *fieldSet) or(field, bits uint64) {
	n := field / pageFields
	p := f.last
	if p == nil || n != f.lastPage {
		p = f.pages[n]
		if p == nil {
			if f.pages == nil {
				f.pages = make(map[uint64]*fieldPage)
			}
			p = new(fieldPage)
			f.pages[n] = p
		}
		f.last, f.lastPage = p, n
	}
	p[field%pageFields] |= bits
}

// all yields every field with bits and its bits, in no set order.
func (f *fieldSet) all() iter.Seq2[uint64, uint64] {
	return func(yield func(field, bits uint64) bool) {
		for n, p := range f.pages {
			for i, bits := range p {
				if bits != 0 && !yield(n*pageFields+uint64(i), bits) {
					return
				}
			}
		}
	}
}
