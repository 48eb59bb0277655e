package liveness

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/juju/clock"
)

// serverClock is the database server's clock as the workers of one
// controller see it: the offset of the server's clock from the local one,
// when it was measured, with what error, and when to measure it again.
//
// Every worker that uses the same connection to the server and the same
// local clock shares one serverClock (see acquireServerClock), so the
// pingers, batcher, watchers and pruners of a controller compute slots in
// one frame. While any of them runs, a goroutine of the clock measures the
// offset again every remeasureEvery, in the shape of the official driver's
// round-trip monitor; clocksample.go holds a measure's sample and how it
// is judged against the frame (judgeSample). A measure that shifts the
// frame by more than moveThreshold is a move: it is logged and counted,
// and the workers are told through moved, so that the batcher writes
// everything it holds at once, pingers ping the new frame's slot, and,
// through a grace (frameGrace), the batcher writes the old frame too,
// watchers read both frames and pruners wait. Frames are in frame.go, the
// registry of shared clocks in clockregistry.go.
type serverClock struct {
	store  Store
	local  clock.Clock
	logger *slog.Logger
	// measure is false when the frame is the local clock itself
	// (WithClockSkew(false)): nothing is measured and nothing moves.
	measure bool
	// key is the clock's entry in the registry; nil for a clock of its own.
	key *clockKey

	// mu guards the fields below.
	mu         sync.Mutex
	now        reading       // the last measure: the server's clock, and the local one then
	errBound   time.Duration // half the round trip of the measure, plus the server's millisecond
	known      bool          // the clock was measured (always true without measure)
	measuredAt time.Time     // local time of the last measure
	rough      bool          // the frame is a first measure rougher than maxErr allows
	period     time.Duration // the shortest slot period of the workers that acquired the clock
	left       []leftFrame   // the frames moved away from lately (see frame)
	moves      int64         // moves ever
	failures   int64         // measures that failed
	moved      chan struct{} // closed at the next move, then replaced
	// measuring is the measure in flight; nil when none is. Callers that
	// need a measure while one is in flight wait for it, or for their
	// context, rather than make another, and take its outcome.
	measuring *measureCall
	waiting   int // callers waiting for the measure in flight
	users     int // workers holding the clock (registry clocks)
	cancel    context.CancelFunc
	done      chan struct{} // closed when the measuring goroutine ends
}

// remeasureEvery is how often a clock in use measures the server's clock
// again. A step of the server's clock (an NTP step on its host, a failover
// to a member whose clock differs) reaches every controller within it.
// A measure costs a few round trips per controller.
const remeasureEvery = 30 * time.Second

// moveThreshold is how far, beyond the error of the two measures, a new
// measure must be from the frame to count as a move rather than drift.
const moveThreshold = 250 * time.Millisecond

// measureSamples is how many round trips a measure makes; it keeps the
// one with the shortest round trip, whose error is smallest.
const measureSamples = 3

// maxMeasureErr is the largest error a measure may have and still be
// adopted: half a round trip of two seconds, and at most an eighth of the
// shortest slot period of the clock's workers (see maxErrFor). A frame is
// off by up to its error, which every ping and read of the frame would
// take out of the write slack; a measure whose fastest round trip took
// longer fails, and is tried again within seconds (a database that slow
// fails most of what it is asked anyway).
const maxMeasureErr = time.Second

// maxErrFor returns the largest error a measure may have for workers
// whose shortest slot period is period (0: not known).
func maxErrFor(period time.Duration) time.Duration {
	if period <= 0 {
		return maxMeasureErr
	}
	return min(maxMeasureErr, period/8)
}

// retryMeasure is how long a clock waits after a failed measure before
// trying again, at first; each failure doubles it, up to maxRetryMeasure,
// so that a clock measures again within seconds of the end of an outage
// (a step of the server's clock during it would go unseen meanwhile).
const (
	retryMeasure    = time.Second
	maxRetryMeasure = 5 * time.Second
)

// overdueAfter is how long after its last measure a frame is overdue:
// measures have been failing, so the server's clock may have stepped
// unseen, and nothing is held on the frame's word (see frame.overdue).
const overdueAfter = remeasureEvery + maxRetryMeasure

// frameGrace returns how long after a move of its own frame a controller
// keeps every guarantee by other means (deaths held back, writes made in
// the old frame too, no pruning): long enough for every other controller
// to have measured the server's clock again (remeasureEvery) and for their
// pingers' next pings to be written (a period).
func frameGrace(period time.Duration) time.Duration {
	return remeasureEvery + period
}

// start starts the measuring goroutine.
func (c *serverClock) start() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	c.mu.Lock()
	c.cancel, c.done = cancel, done
	c.mu.Unlock()
	go func() {
		defer close(done)
		c.run(ctx)
	}()
}

// run measures the clock at once, unless a worker just did, then every
// remeasureEvery, and sooner after a failure, until ctx ends.
func (c *serverClock) run(ctx context.Context) {
	wait := time.Duration(0)
	for {
		if wait > 0 {
			timer := c.local.NewTimer(wait)
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case <-timer.Chan():
			}
		}
		if ctx.Err() != nil {
			return
		}
		if fresh := c.sinceMeasured(); fresh < remeasureEvery && wait == 0 {
			wait = remeasureEvery - fresh
			continue
		}
		opCtx, cancel := context.WithTimeout(ctx, remeasureEvery)
		err := c.measureNow(opCtx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			wait = remeasureEvery
		case wait == 0 || wait >= remeasureEvery:
			wait = retryMeasure
		default:
			wait = min(2*wait, maxRetryMeasure)
		}
	}
}

// sinceMeasured returns how long ago the clock was last measured, or
// remeasureEvery when it never was.
func (c *serverClock) sinceMeasured() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.known {
		return remeasureEvery
	}
	return c.local.Now().Sub(c.measuredAt)
}

// current returns the frame as last measured, without waiting.
func (c *serverClock) current() frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.frameLocked()
}

func (c *serverClock) frameLocked() frame {
	f := frame{now: c.now, known: c.known, left: c.left, rough: c.rough}
	if c.measure {
		f.measuredAt = c.measuredAt
	}
	return f
}

// get returns the frame, measuring it first if it never was (or waiting
// for the measure in flight); it gives up when ctx ends.
func (c *serverClock) get(ctx context.Context) (frame, error) {
	for {
		c.mu.Lock()
		if c.known {
			f := c.frameLocked()
			c.mu.Unlock()
			return f, nil
		}
		c.mu.Unlock()
		if err := c.measureNow(ctx); err != nil {
			c.mu.Lock()
			known := c.known // a first measure too rough to trust is a frame still
			c.mu.Unlock()
			if !known {
				return frame{}, err
			}
		}
	}
}

// confirm returns the frame once one fresh sample of the server's clock,
// within maxErr, agrees with it. A sample far from where the frame puts
// the server's clock (a step since the last measure) brings on a full
// measure, which moves the frame, and the moved frame is returned if the
// sample agrees with it. Otherwise it returns an error: a sample too rough
// to judge by, or a measure that failed (its own, or the one in flight it
// waited for). It is for work that cannot be undone, such as pruning,
// which must not act on a frame up to remeasureEvery old.
func (c *serverClock) confirm(ctx context.Context, maxErr time.Duration) (frame, error) {
	if _, err := c.get(ctx); err != nil {
		return frame{}, err
	}
	s, err := sampleClock(ctx, c.store, c.local.Now)
	if err != nil {
		return frame{}, bareAnnotatef(err, "%s", clockSyncText)
	}
	if s.errBound > maxErr {
		return frame{}, fmt.Errorf("%s: a sample took %v, too long to judge by", clockSyncText, 2*s.errBound)
	}
	for measured := false; ; measured = true {
		c.mu.Lock()
		far := isMove(c.known, c.errBound, s.now.server.Sub(c.now.at(s.now.local)), s.errBound)
		f := c.frameLocked()
		c.mu.Unlock()
		switch {
		case !far:
			return f, nil
		case measured:
			return frame{}, fmt.Errorf("%s: the server's clock is %v from where it was last measured", clockSyncText, s.now.server.Sub(f.now.at(s.now.local)))
		}
		if err := c.measureNow(ctx); err != nil {
			return frame{}, err
		}
	}
}

// moves returns a channel closed at the next move of the frame.
func (c *serverClock) movesChan() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.moved
}

// measureCall is a measure in flight; err is its outcome once done is
// closed.
type measureCall struct {
	done chan struct{}
	err  error
}

// measureNow measures the clock and adopts the result, unless another
// measure is in flight, whose end it waits for (or for ctx), taking its
// outcome.
func (c *serverClock) measureNow(ctx context.Context) error {
	c.mu.Lock()
	if call := c.measuring; call != nil {
		c.waiting++
		c.mu.Unlock()
		defer func() {
			c.mu.Lock()
			c.waiting--
			c.mu.Unlock()
		}()
		select {
		case <-call.done:
			return call.err
		case <-ctx.Done():
			return bareAnnotatef(ctx.Err(), "%s", clockSyncText)
		}
	}
	call := &measureCall{done: make(chan struct{})}
	c.measuring = call
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.measuring = nil
		c.mu.Unlock()
		close(call.done)
	}()
	call.err = c.measureLocked(ctx)
	return call.err
}

// measureLocked measures the clock, as the measure in flight, and adopts
// the result.
func (c *serverClock) measureLocked(ctx context.Context) error {
	var best sample
	taken := 0
	var err error
	for taken < measureSamples {
		s, sampleErr := sampleClock(ctx, c.store, c.local.Now)
		if sampleErr != nil {
			err = sampleErr
			break
		}
		if taken == 0 || s.errBound < best.errBound {
			best = s
		}
		taken++
	}
	if taken == 0 {
		c.mu.Lock()
		c.failures++
		c.mu.Unlock()
		return bareAnnotatef(err, "%s", clockSyncText)
	}
	return c.adopt(best)
}

// adopt makes s the frame, as judgeSample says: as a move when the frame
// shifts by more than moveThreshold, with the grace that brings. It fails,
// as a failed measure does, when s is too rough to adopt.
func (c *serverClock) adopt(s sample) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	by := s.now.server.Sub(c.now.at(s.now.local))
	verdict := judgeSample(c.known, c.errBound, by, s.errBound, maxErrFor(c.period))
	switch verdict {
	case refuseSample, roughFrame:
		c.failures++
		err := fmt.Errorf("%s: the fastest of %d round trips took %v, too long to measure by", clockSyncText, measureSamples, 2*(s.errBound-time.Millisecond))
		if verdict == refuseSample {
			return err
		}
		// The first measure: a rough frame is better than none. It is
		// overdue until a finer measure, which moves it if it was off.
		c.now, c.errBound, c.known, c.measuredAt, c.rough = s.now, s.errBound, true, s.at, true
		return err
	case keepFrame:
		c.measuredAt = s.at
		return nil
	case moveFrame:
		c.left = leaving(c.left, c.now, s.at)
		c.moves++
		close(c.moved)
		c.moved = make(chan struct{})
		c.logger.Warn("presence: the database server's clock moved; writing what is held at once, and reading both frames for a while",
			"by", by, "offset", s.now.offset(), "error", s.errBound, "grace-from", s.at)
	}
	c.now, c.errBound, c.known, c.measuredAt, c.rough = s.now, s.errBound, true, s.at, false
	return nil
}

// report adds the clock's figures to a worker's report.
func (c *serverClock) report(r map[string]interface{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r["clock-offset"] = c.now.offset()
	r["clock-error"] = c.errBound
	r["clock-moves"] = c.moves
	r["clock-measure-failures"] = c.failures
	if !c.measuredAt.IsZero() {
		r["clock-measured"] = c.measuredAt
	}
}
