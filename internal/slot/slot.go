// Package slot holds the time arithmetic of presence: which slot an instant
// falls in, which slots are live, and how often a pinger must ping.
//
// A slot is named by the Unix second at which it starts; slots are
// periodSeconds long and aligned on multiples of periodSeconds. The package
// knows nothing of databases or clocks: every function takes what it needs
// as arguments.
package slot

import "time"

// MinPeriod is the shortest slot length accepted.
const MinPeriod = time.Second

// Of returns the slot containing the instant unixSeconds. Instants before
// the epoch are floored too, so the result never exceeds unixSeconds.
func Of(unixSeconds, periodSeconds int64) int64 {
	rem := unixSeconds % periodSeconds
	if rem < 0 {
		rem += periodSeconds
	}
	return unixSeconds - rem
}

// At returns the slot containing now as seen by the database server: delta
// is the server clock minus the local clock.
func At(now time.Time, delta, period time.Duration) int64 {
	return Of(now.Add(delta).Unix(), Seconds(period))
}

// Seconds returns period in whole seconds, never less than one.
func Seconds(period time.Duration) int64 {
	s := int64(period / time.Second)
	if s < 1 {
		return 1
	}
	return s
}

// Live returns the two slots a watcher reads at slot current: a key is alive
// when it pinged in either of them.
func Live(current, periodSeconds int64) (previous, cur int64) {
	return current - periodSeconds, current
}

// PingWindow returns how far into every slot a pinger pings at the
// latest: its first quarter. Pinging early leaves most of the slot for the
// write to land before watchers stop reading the slot before it.
func PingWindow(period time.Duration) time.Duration {
	return period / 4
}

// PingOffset returns how far into a slot to ping, given a random number in
// [0, 1): a point of the ping window, so that the pingers of a controller
// do not all ping at the same instant.
func PingOffset(period time.Duration, random float64) time.Duration {
	return time.Duration(float64(PingWindow(period)) * random)
}

// NextPing returns when, on the server's clock, to ping after a ping in
// slot last: offset into the slot that follows it.
func NextPing(last, periodSeconds int64, offset time.Duration) time.Time {
	return time.Unix(last+periodSeconds, 0).Add(offset)
}

// MaxFlushInterval returns the longest flush interval a batcher may use
// with period: a quarter of it, so that even at the longest jittered wait
// (1.2 times the interval) a ping from the end of the ping window is
// written well before its slot ends.
func MaxFlushInterval(period time.Duration) time.Duration {
	return period / 4
}

// WriteSlack returns how late a write of pings may land, beyond the
// batcher's own wait, with no live key read dead. A key stays alive while
// its bit is in the current or the previous slot; a ping taken at the end
// of the ping window and held for the longest jittered flush wait must
// land before the next slot starts, when the slot before it stops being
// read. At the defaults (30 s, 1 s) that is 21.3 s.
func WriteSlack(period, flushInterval time.Duration) time.Duration {
	return period - PingWindow(period) - flushInterval*6/5
}

// Normalize returns period rounded down to whole seconds, or ok false when
// that is below MinPeriod.
func Normalize(period time.Duration) (time.Duration, bool) {
	period = period.Truncate(time.Second)
	if period < MinPeriod {
		return 0, false
	}
	return period, true
}
