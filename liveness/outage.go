package liveness

import (
	"time"

	"github.com/presence-go/presence/internal/mutate"
)

// outage follows a run of failed database operations of one worker, so
// that a short hiccup is retried quietly and only a long one stops the
// worker. It belongs to the worker's loop goroutine.
type outage struct {
	// since is when the oldest operation not yet acknowledged began: a
	// run of failures starts when its first operation did, not when that
	// operation finally failed, so an operation that hangs counts from
	// its start. Zero when every operation succeeded.
	since    time.Time
	failures int64 // failures in the current run
	total    int64 // failures ever
}

// failed records err, a failure of the worker named by who. It returns nil
// while the run of failures is shorter than the tolerance, and after that
// an error saying since when it lasts.
func (o *outage) failed(cfg config, who string, err error, ctx ...interface{}) error {
	now := cfg.clock.Now()
	if o.since.IsZero() {
		o.since = now
	}
	o.failures++
	o.total++
	args := append([]interface{}{"err", err, "failures", o.failures, "since", o.since}, ctx...)
	if now.Sub(o.since) <= cfg.tolerance {
		cfg.logger.Warn("presence: database operation failed; retrying", args...)
		return nil
	}
	return annotatef(err, "%s: database unavailable since %s (%d failures in a row, tolerance %s)",
		who, o.since.Format(time.RFC3339), o.failures, cfg.tolerance)
}

// begin records that an operation starts at now, which starts the outage
// clock unless an earlier operation is still unacknowledged.
func (o *outage) begin(now time.Time) {
	if mutate.Enabled && mutate.Active(mutate.HangIsNoOutage) {
		return
	}
	if o.since.IsZero() {
		o.since = now
	}
}

// ended records a success.
func (o *outage) ended() {
	o.since = time.Time{}
	o.failures = 0
}
