package liveness

import (
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
	// previous is the reading before the last move, and movedAt when that
	// move happened (local time; zero if none).
	previous reading
	movedAt  time.Time
}

// server returns the server's time at local time now.
func (f frame) server(now time.Time) time.Time { return f.now.at(now) }

// slot returns the slot of local time now on the server's clock.
func (f frame) slot(now time.Time, period time.Duration) int64 {
	return slot.Of(f.server(now).Unix(), slot.Seconds(period))
}

// oldSlot returns the slot of local time now on the server's clock as
// known before the last move.
func (f frame) oldSlot(now time.Time, period time.Duration) int64 {
	return slot.Of(f.previous.at(now).Unix(), slot.Seconds(period))
}

// local returns the local time at which the server's clock reads server.
func (f frame) local(server time.Time) time.Time {
	if f.now.local.IsZero() {
		return server
	}
	return f.now.local.Add(server.Sub(f.now.server))
}

// movedWithin reports whether the frame moved in the d before now.
func (f frame) movedWithin(now time.Time, d time.Duration) bool {
	return !f.movedAt.IsZero() && now.Sub(f.movedAt) < d
}
