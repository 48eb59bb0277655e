package benchsuite

import (
	"container/heap"
	"fmt"
	"sync"
	"time"

	"github.com/juju/clock"
)

// benchStart is the instant the benchmarks' clocks start at: 20 seconds
// into a slot of the default period.
var benchStart = time.Unix(1_700_000_010, 0)

// frozenClock stands still at benchStart and never fires a timer, so
// that workers act only when a benchmark asks them to (Sync).
type frozenClock struct{}

func (frozenClock) Now() time.Time                              { return benchStart }
func (frozenClock) After(time.Duration) <-chan time.Time        { return nil }
func (frozenClock) AfterFunc(time.Duration, func()) clock.Timer { return idleTimer{} }
func (frozenClock) NewTimer(time.Duration) clock.Timer          { return idleTimer{} }
func (frozenClock) At(time.Time) <-chan time.Time               { return nil }
func (frozenClock) AtFunc(time.Time, func()) clock.Alarm        { return idleAlarm{} }
func (frozenClock) NewAlarm(time.Time) clock.Alarm              { return idleAlarm{} }

// idleTimer is a timer that never fires.
type idleTimer struct{}

func (idleTimer) Chan() <-chan time.Time   { return nil }
func (idleTimer) Reset(time.Duration) bool { return false }
func (idleTimer) Stop() bool               { return false }

// idleAlarm is an alarm that never fires.
type idleAlarm struct{}

func (idleAlarm) Chan() <-chan time.Time { return nil }
func (idleAlarm) Reset(time.Time) bool   { return false }
func (idleAlarm) Stop() bool             { return false }

// drivenClock is a clock that moves only when told, for runs that play
// minutes of a fleet's life in seconds: the benchmark advances it from one
// timer to the next and, before each move, waits until every worker has
// gone back to waiting on a timer, so that each acts at the instant it
// would have and the database sees the same traffic as in real time.
//
// It is juju/clock/testclock's idea with what a fleet needs: timers in a
// heap (testclock sorts its list at every Reset and records a stack trace
// per timer, which costs seconds per slot with ten thousand pingers), and
// a count of armed timers to wait on, with no buffer of notifications to
// drain.
type drivenClock struct {
	mu      sync.Mutex
	changed *sync.Cond // signalled when a timer is armed
	now     time.Time
	timers  timerHeap // armed timers, soonest first
	seq     int64     // orders timers armed for the same instant
}

func newDrivenClock(now time.Time) *drivenClock {
	c := &drivenClock{now: now}
	c.changed = sync.NewCond(&c.mu)
	return c
}

// drivenTimer is a timer of a drivenClock.
type drivenTimer struct {
	clock    *drivenClock
	c        chan time.Time
	fn       func() // for AfterFunc and AtFunc: run in a goroutine instead of sending
	deadline time.Time
	seq      int64
	index    int // in the heap; -1 when not armed
}

func (c *drivenClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *drivenClock) After(d time.Duration) <-chan time.Time { return c.NewTimer(d).Chan() }

func (c *drivenClock) NewTimer(d time.Duration) clock.Timer {
	t := &drivenTimer{clock: c, c: make(chan time.Time, 1), index: -1}
	t.Reset(d)
	return t
}

func (c *drivenClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	t := &drivenTimer{clock: c, fn: f, index: -1}
	t.Reset(d)
	return t
}

func (c *drivenClock) At(when time.Time) <-chan time.Time { return c.NewAlarm(when).Chan() }

func (c *drivenClock) NewAlarm(when time.Time) clock.Alarm {
	t := &drivenTimer{clock: c, c: make(chan time.Time, 1), index: -1}
	t.arm(when)
	return drivenAlarm{t}
}

func (c *drivenClock) AtFunc(when time.Time, f func()) clock.Alarm {
	t := &drivenTimer{clock: c, fn: f, index: -1}
	t.arm(when)
	return drivenAlarm{t}
}

func (t *drivenTimer) Chan() <-chan time.Time { return t.c }

func (t *drivenTimer) Reset(d time.Duration) bool {
	t.clock.mu.Lock()
	when := t.clock.now.Add(d)
	t.clock.mu.Unlock()
	return t.arm(when)
}

// arm sets the timer for when, firing it at once if that has come; it
// reports whether it was armed before.
func (t *drivenTimer) arm(when time.Time) bool {
	c := t.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	was := t.index >= 0
	if was {
		heap.Remove(&c.timers, t.index)
	}
	t.deadline = when
	c.seq++
	t.seq = c.seq
	if !when.After(c.now) {
		t.fireLocked()
		return was
	}
	heap.Push(&c.timers, t)
	c.changed.Broadcast()
	return was
}

func (t *drivenTimer) Stop() bool {
	c := t.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.index < 0 {
		return false
	}
	heap.Remove(&c.timers, t.index)
	c.changed.Broadcast()
	return true
}

// fireLocked delivers the timer; it is not armed any more.
func (t *drivenTimer) fireLocked() {
	if t.fn != nil {
		go t.fn()
		return
	}
	select {
	case t.c <- t.clock.now:
	default: // a value is already waiting, as with time.Timer
	}
}

// drivenAlarm is a drivenTimer reset by instant.
type drivenAlarm struct{ *drivenTimer }

func (a drivenAlarm) Reset(when time.Time) bool { return a.arm(when) }

// Armed returns how many timers are waiting to fire.
func (c *drivenClock) Armed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// Next returns the deadline of the soonest armed timer, if any.
func (c *drivenClock) Next() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.timers) == 0 {
		return time.Time{}, false
	}
	return c.timers[0].deadline, true
}

// AdvanceTo moves the clock to when (never backwards) and fires every
// timer due by then.
func (c *drivenClock) AdvanceTo(when time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if when.After(c.now) {
		c.now = when
	}
	for len(c.timers) > 0 && !c.timers[0].deadline.After(c.now) {
		t := heap.Pop(&c.timers).(*drivenTimer)
		t.fireLocked()
	}
}

// WaitArmed waits until n timers are armed, or for at most timeout of
// real time: the workers that were fired have done their work and wait
// again.
func (c *drivenClock) WaitArmed(n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	stop := time.AfterFunc(timeout, func() {
		c.mu.Lock()
		c.changed.Broadcast()
		c.mu.Unlock()
	})
	defer stop.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.timers) != n {
		if !time.Now().Before(deadline) {
			return fmt.Errorf("driven clock at %s: %d timers armed after %v, want %d", c.now.Format(time.TimeOnly), len(c.timers), timeout, n)
		}
		c.changed.Wait()
	}
	return nil
}

// timerHeap orders armed timers by deadline, then by when they were armed.
type timerHeap []*drivenTimer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if !h[i].deadline.Equal(h[j].deadline) {
		return h[i].deadline.Before(h[j].deadline)
	}
	return h[i].seq < h[j].seq
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *timerHeap) Push(x any) {
	t := x.(*drivenTimer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	t.index = -1
	*h = old[:len(old)-1]
	return t
}
