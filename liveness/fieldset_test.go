package liveness

import (
	"maps"
	"math/rand/v2"
	"testing"

	"github.com/presence-go/presence/internal/layout"
)

// TestFieldSetHoldsWhatAMapHolds ORs random bits into random fields, near
// each other and far apart, and checks that the set yields what a plain map
// would hold, each field once, with no page for nothing.
func TestFieldSetHoldsWhatAMapHolds(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var set fieldSet
		want := map[uint64]uint64{}
		start := rng.Uint64N(1000)
		if round%10 == 0 {
			start = 0
		}
		for range rng.IntN(300) {
			var field uint64
			switch rng.IntN(4) {
			case 0: // anywhere
				field = rng.Uint64N(100000)
			case 1: // a run from start, as sequences are handed out
				field = start + rng.Uint64N(64)
			default: // below and above start, within reach
				field = max(start, 20) - 20 + rng.Uint64N(40)
			}
			bit := uint64(1) << rng.IntN(63)
			set.or(field, bit)
			want[field] |= bit
		}
		got := map[uint64]uint64{}
		for field, bits := range set.all() {
			if _, twice := got[field]; twice {
				t.Fatalf("round %d: field %d yielded twice", round, field)
			}
			got[field] = bits
		}
		if !maps.Equal(got, want) {
			t.Fatalf("round %d: set holds %v, want %v", round, got, want)
		}
		if len(set.pages) > len(want) {
			t.Fatalf("round %d: %d pages for %d fields", round, len(set.pages), len(want))
		}
	}
}

// TestFieldSetAtTheEnds checks fields at both ends of the range a ping can
// name.
func TestFieldSetAtTheEnds(t *testing.T) {
	const maxField = layout.MaxFieldIndex
	var set fieldSet
	for _, field := range []uint64{5, 0, 3, maxField, maxField - 1, 1} {
		set.or(field, 1<<(field%63))
	}
	got := map[uint64]uint64{}
	for field, bits := range set.all() {
		got[field] = bits
	}
	want := map[uint64]uint64{}
	for _, field := range []uint64{5, 0, 3, maxField, maxField - 1, 1} {
		want[field] |= 1 << (field % 63)
	}
	if !maps.Equal(got, want) {
		t.Fatalf("set holds %v, want %v", got, want)
	}
}
