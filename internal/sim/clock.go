package sim

import (
	"sync"
	"time"

	"github.com/juju/clock"
)

// localClock is one controller's clock: the simulation's true time (the
// synctest bubble's, which the Go runtime advances when every goroutine
// of the bubble is blocked) as a host would read it, off by a skew, drifting
// at a rate, and now and then stepped. Its readings carry the bubble's
// monotonic reading shifted with them, so a step is seen by every
// subtraction of readings, as on a host whose clock has no monotonic
// reading: the worst case for the workers, which a step then moves until
// they measure the server's clock again.
//
// Timers run on true time: a drift of a few hundred parts per million
// changes a timer by less than the simulation can tell.
type localClock struct {
	start time.Time // true time when the clock was made

	// mu guards the fields below, which the simulation's driver changes
	// while the workers read the clock.
	mu    sync.Mutex
	skew  time.Duration // how far ahead of true time the clock reads
	drift float64       // how much faster than true time it runs (2e-4: 200 ppm)
}

var _ clock.Clock = (*localClock)(nil)

func newLocalClock(skew time.Duration, drift float64) *localClock {
	return &localClock{start: time.Now(), skew: skew, drift: drift}
}

// Now implements clock.Clock.
func (c *localClock) Now() time.Time {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	elapsed := now.Sub(c.start)
	return now.Add(c.skew + time.Duration(float64(elapsed)*c.drift))
}

// step moves the clock by d at once.
func (c *localClock) step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.skew += d
}

// After implements clock.Clock.
func (c *localClock) After(d time.Duration) <-chan time.Time {
	return c.NewTimer(d).Chan()
}

// AfterFunc implements clock.Clock.
func (c *localClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	return &localTimer{clock: c, timer: time.AfterFunc(d, f)}
}

// NewTimer implements clock.Clock.
func (c *localClock) NewTimer(d time.Duration) clock.Timer {
	t := &localTimer{clock: c, ch: make(chan time.Time, 1)}
	t.timer = time.AfterFunc(d, t.fire)
	return t
}

// At implements clock.Clock.
func (c *localClock) At(t time.Time) <-chan time.Time {
	return c.NewTimer(t.Sub(c.Now())).Chan()
}

// AtFunc implements clock.Clock.
func (c *localClock) AtFunc(t time.Time, f func()) clock.Alarm {
	return &localAlarm{localTimer{clock: c, timer: time.AfterFunc(t.Sub(c.Now()), f)}}
}

// NewAlarm implements clock.Clock.
func (c *localClock) NewAlarm(t time.Time) clock.Alarm {
	return &localAlarm{*c.NewTimer(t.Sub(c.Now())).(*localTimer)}
}

// localTimer is a timer of a localClock: it sends the clock's reading when
// it fires.
type localTimer struct {
	clock *localClock
	timer *time.Timer
	ch    chan time.Time // nil for a timer that calls a function
}

func (t *localTimer) fire() {
	select {
	case t.ch <- t.clock.Now():
	default:
	}
}

// Chan implements clock.Timer.
func (t *localTimer) Chan() <-chan time.Time { return t.ch }

// Reset implements clock.Timer.
func (t *localTimer) Reset(d time.Duration) bool {
	active := t.timer.Stop()
	t.drain()
	t.timer.Reset(d)
	return active
}

// Stop implements clock.Timer.
func (t *localTimer) Stop() bool {
	active := t.timer.Stop()
	t.drain()
	return active
}

// drain drops a reading sent and not received, as a stopped time.Timer's
// channel holds none.
func (t *localTimer) drain() {
	if t.ch == nil {
		return
	}
	select {
	case <-t.ch:
	default:
	}
}

// localAlarm is an alarm of a localClock.
type localAlarm struct{ localTimer }

// Reset implements clock.Alarm.
func (a *localAlarm) Reset(t time.Time) bool {
	return a.localTimer.Reset(t.Sub(a.clock.Now()))
}
