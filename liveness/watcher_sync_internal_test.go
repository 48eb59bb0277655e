package liveness

import "testing"

// TestReadWholeModelWhenTheUnknownAreMany checks when a watcher reads all
// the model's beings rather than looking the unknown sequences up by id:
// a starting watcher with more than a few to find, or a model most of
// whose agents restarted, but never a handful of new agents in a large
// model.
func TestReadWholeModelWhenTheUnknownAreMany(t *testing.T) {
	for _, c := range []struct {
		unknown, known int
		want           bool
	}{
		{1, 0, false},
		{rangeReadAbove, 0, false},
		{rangeReadAbove + 1, 0, true},
		{1000, 0, true},
		{1000000, 0, true},
		{rangeReadAbove + 1, 1000000, false},
		{5000, 1000000, false},
		{500000, 1000000, true},
		{1000, 1500, true},
		{1000, 3000, false},
	} {
		if got := readWholeModel(c.unknown, c.known); got != c.want {
			t.Errorf("readWholeModel(%d unknown, %d known) = %v, want %v", c.unknown, c.known, got, c.want)
		}
	}
}
