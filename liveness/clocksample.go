package liveness

import (
	"context"
	"time"
)

// This file holds a measure of the server's clock, a sample, and how a
// serverClock judges one against its frame.

// verdict is what a measure does to the frame.
type verdict int

const (
	refineFrame  verdict = iota // adopt it: the first measure, or drift
	moveFrame                   // adopt it as a move, with its grace
	keepFrame                   // keep the frame, measured again
	refuseSample                // adopt nothing: a failed measure
	roughFrame                  // a first measure too rough: adopt it as overdue, and measure again soon
)

// judgeSample says what a measure within sampleErr, finding the server's
// clock by away from where the frame (known, within errBound) puts it,
// does to the frame. A measure rougher than maxErr is refused, or taken
// as a rough frame when there is none. One within moveThreshold of the
// frame refines it. Beyond that, the frame's shift is a move whoever is
// right: the workers that used the old frame need the grace, whether the
// server's clock stepped or the old frame was off. So a measure that
// proves the server's clock moved (far beyond both errors) is a move, and
// so is one that may only be finer than the frame; one that is no finer,
// and agrees with the frame within their errors, leaves the frame as it
// is.
func judgeSample(known bool, errBound, by, sampleErr, maxErr time.Duration) verdict {
	if by < 0 {
		by = -by
	}
	switch {
	case sampleErr > maxErr && !known:
		return roughFrame
	case sampleErr > maxErr:
		return refuseSample
	case !known || by <= moveThreshold:
		return refineFrame
	case isMove(known, errBound, by, sampleErr) || sampleErr < errBound:
		return moveFrame
	}
	return keepFrame
}

// isMove reports whether a measure that finds the server's clock by away
// from where the frame (known, within errBound) puts it, itself within
// sampleErr, proves that the server's clock moved since the frame was
// measured.
func isMove(known bool, errBound, by, sampleErr time.Duration) bool {
	if !known {
		return false
	}
	if by < 0 {
		by = -by
	}
	return by > moveThreshold+errBound+sampleErr
}

// sample is one measure of the server's clock.
type sample struct {
	now      reading       // the server's time, and the local time then
	errBound time.Duration // how far now.server may be off
	at       time.Time     // local time at the end of the measure
}

// sampleClock measures the database server's clock against the local one,
// read by now. The server's time is taken to be that of the middle of the
// round trip, which is off by at most half of it, plus the millisecond the
// server rounds its time to.
func sampleClock(ctx context.Context, store Store, now func() time.Time) (sample, error) {
	before := now()
	serverTime, err := store.ServerTime(ctx)
	if err != nil {
		return sample{}, err
	}
	after := now()
	half := after.Sub(before) / 2
	return sample{now: reading{server: serverTime, local: before.Add(half)}, errBound: half + time.Millisecond, at: after}, nil
}
