// Package slot holds the time arithmetic of presence: which slot an instant
// falls in, which slots are live, and how often a pinger must ping.
//
// A slot is named by the Unix second at which it starts; slots are
// periodSeconds long and aligned on multiples of periodSeconds. The package
// knows nothing of databases or clocks: every function takes what it needs
// as arguments.
package slot

import "time"

// DefaultPeriod is the slot length used by Juju and by default here.
const DefaultPeriod = 30 * time.Second

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

// PingInterval returns how long a pinger waits between pings. At periods of
// ten seconds and more it is Juju's 0.75 × (period + 1 s) (23.25 s at the
// default 30 s); below that it is half the period, so that a ping and the
// batcher's flush that carries it still land inside two slots.
func PingInterval(period time.Duration) time.Duration {
	if period >= 10*time.Second {
		return (period + time.Second) * 3 / 4
	}
	return period / 2
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
