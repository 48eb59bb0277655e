package liveness

import "testing"

func TestPruneDue(t *testing.T) {
	if !pruneDue(pruneMaxPeriods, 0.99) {
		t.Errorf("not due after %d periods", pruneMaxPeriods)
	}
	if pruneDue(1, 0.5) {
		t.Errorf("due with a high draw")
	}
	if !pruneDue(1, 0.01) {
		t.Errorf("not due with a low draw")
	}
	// Over many draws the mean gap is near pruneMeanPeriods.
	gaps, since, total := 0, 0, 0
	for i := 0; i < 200000; i++ {
		since++
		r := float64((i*7919)%10007) / 10007 // a fixed, well spread sequence
		if pruneDue(since, r) {
			gaps++
			total += since
			since = 0
		}
	}
	mean := float64(total) / float64(gaps)
	if mean < 0.8*pruneMeanPeriods || mean > 1.2*pruneMeanPeriods {
		t.Errorf("mean gap %.1f periods, want about %d", mean, pruneMeanPeriods)
	}
}
