package liveness

import (
	"slices"
	"time"

	"github.com/presence-go/presence/internal/slot"
)

// reading pairs a reading of the server's clock with the local clock's at
// the same instant. The local reading keeps the monotonic reading that
// the local clock gives (the wall clock does), so that the server's time
// worked out from it is not moved by a step of the local wall clock.
type reading struct {
	server, local time.Time
}

// at returns the server's time at local time now, by this reading; with no
// reading, the local clock is the server's.
func (r reading) at(now time.Time) time.Time {
	if r.local.IsZero() {
		return now
	}
	return r.server.Add(now.Sub(r.local))
}

// offset returns how far the server's clock was ahead of the local one.
func (r reading) offset() time.Duration {
	if r.local.IsZero() {
		return 0
	}
	return r.server.Sub(r.local)
}

// frame is the server's clock as known at one instant.
type frame struct {
	now   reading
	known bool // the clock was measured
	// measuredAt is the local time of the last measure; zero for a frame
	// that is the local clock itself (WithClockSkew(false)).
	measuredAt time.Time
	// rough marks a frame taken from a first measure too rough to trust:
	// it is overdue until a finer one.
	rough bool
	// left holds the frames the clock moved away from lately, oldest
	// first. Two moves may come within one grace (a step of the server's
	// clock soon after another): the frame before both is still in use by
	// controllers that measured neither, so it keeps its own grace.
	left []leftFrame
}

// leftFrame is a frame moved away from: its last reading, and the local
// time of the move.
type leftFrame struct {
	reading reading
	at      time.Time
}

// maxLeft bounds how many frames a clock remembers having left: a clock
// measures every remeasureEvery, so no more than a few moves fall within
// one grace.
const maxLeft = 8

// leaving returns left with the frame whose reading was r, left at local
// time at, added; a new slice, so that frames already handed out do not
// change.
func leaving(left []leftFrame, r reading, at time.Time) []leftFrame {
	keep := left[max(0, len(left)-(maxLeft-1)):]
	out := make([]leftFrame, 0, len(keep)+1)
	return append(append(out, keep...), leftFrame{r, at})
}

// server returns the server's time at local time now.
func (f frame) server(now time.Time) time.Time { return f.now.at(now) }

// slot returns the slot of local time now on the server's clock.
func (f frame) slot(now time.Time, period time.Duration) int64 {
	return slot.Of(f.server(now).Unix(), slot.Seconds(period))
}

// graceSlots returns the slot, at local time now, of every frame left
// still in its grace, oldest first, without repeats.
func (f frame) graceSlots(now time.Time, period time.Duration) []int64 {
	var slots []int64
	for _, l := range f.left {
		if !f.inGrace(l, now, period) {
			continue
		}
		if s := slot.Of(l.reading.at(now).Unix(), slot.Seconds(period)); !slices.Contains(slots, s) {
			slots = append(slots, s)
		}
	}
	return slots
}

// inGrace reports whether a frame left is still read and written at local
// time now: for frameGrace(period) after it was left, and then until the
// clock has been measured again, or has been overdue for as long as a
// frame becomes overdue (see graceLimit). The second part is for a step of
// the server's clock soon after the one that left the frame: a controller
// that measured neither step until after both moves straight from this
// frame to the newest one, and writes this frame through its own grace; a
// controller still in the frame between, which has not measured the
// second step yet, would find it in neither frame it reads. Its next
// measure moves it to the newest frame too.
func (f frame) inGrace(l leftFrame, now time.Time, period time.Duration) bool {
	graceEnd := l.at.Add(frameGrace(period))
	if now.Before(graceEnd) {
		return true
	}
	return !f.measuredAt.IsZero() && f.measuredAt.Before(graceEnd) && now.Before(graceLimit(l, period))
}

// graceLimit returns the local time after which a frame left is never in
// its grace, measured again or not.
func graceLimit(l leftFrame, period time.Duration) time.Time {
	return l.at.Add(frameGrace(period) + overdueAfter)
}

// graceWritten returns every slot of the frames left into which a batcher
// may have written, through their grace, the alive bit of a sequence that
// started at local time since, as it dies at local time now: the slots of
// each left frame from when the frame was left, or the sequence started, to
// when its grace can have ended at the latest, or now, and the slot after
// the last. A death writes its dead bit into each, so that none of them
// brings the key back when the server's clock comes round to it (after a
// step back).
func (f frame) graceWritten(since, now time.Time, period time.Duration) []int64 {
	var slots []int64
	add := func(s int64) {
		if !slices.Contains(slots, s) {
			slots = append(slots, s)
		}
	}
	periodSeconds := slot.Seconds(period)
	for _, l := range f.left {
		from, to := l.at, graceLimit(l, period)
		if since.After(from) {
			from = since
		}
		if now.Before(to) {
			to = now
		}
		if to.Before(from) {
			continue
		}
		first := slot.Of(l.reading.at(from).Unix(), periodSeconds)
		last := slot.Of(l.reading.at(to).Unix(), periodSeconds)
		for s := first; s <= last+periodSeconds; s += periodSeconds {
			add(s)
		}
	}
	return slots
}

// lastLeftSlot returns the slot at local time now of the frame left at the
// last move, and false if there was none.
func (f frame) lastLeftSlot(now time.Time, period time.Duration) (int64, bool) {
	if len(f.left) == 0 {
		return 0, false
	}
	return slot.Of(f.left[len(f.left)-1].reading.at(now).Unix(), slot.Seconds(period)), true
}

// movedAt returns the local time of the last move; zero if none.
func (f frame) movedAt() time.Time {
	if len(f.left) == 0 {
		return time.Time{}
	}
	return f.left[len(f.left)-1].at
}

// local returns the local time at which the server's clock reads server.
func (f frame) local(server time.Time) time.Time {
	if f.now.local.IsZero() {
		return server
	}
	return f.now.local.Add(server.Sub(f.now.server))
}

// overdue reports whether, at local time now, the frame is not known, is
// rough, or its last measure is older than overdueAfter: the measures
// since failed, and the server's clock may have stepped unseen.
func (f frame) overdue(now time.Time) bool {
	return !f.known || f.rough || (!f.measuredAt.IsZero() && now.Sub(f.measuredAt) > overdueAfter)
}

// movedWithin reports whether the frame moved in the d before now.
func (f frame) movedWithin(now time.Time, d time.Duration) bool {
	at := f.movedAt()
	return !at.IsZero() && now.Sub(at) < d
}
