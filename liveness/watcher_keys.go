package liveness

import (
	"context"
	"slices"
	"strings"
)

// KeyState is what a watcher's last read found of one key of its model.
type KeyState struct {
	Key string
	// Seq is the key's newest sequence in the live slots: the one that
	// decides whether the key is alive. A pinger started again takes a
	// new sequence, which shows here once its first ping is written;
	// until then the old one decides.
	Seq int64
	// Alive reports whether the key is alive: Seq pinged in a live slot
	// and was not killed.
	Alive bool
	// LastSlot is the later of the live slots in which Seq pinged, named,
	// as every slot, by the Unix second at which it starts on the database
	// server's clock; 0 when Seq has only a kill in the live slots.
	LastSlot int64
}

type reqKeyStates struct {
	result chan keyStatesResult
}

type keyStatesResult struct {
	states []KeyState
	err    error
}

// KeyStates returns, sorted by key, what the watcher's last read found of
// every key with a sequence in the live slots (the keys WatchModel
// reports, alive or killed and not yet expired): the sequence that decides
// its liveness, that liveness, and the last slot it pinged. Like Alive, it
// waits for the watcher's first read, and returns an error while reads
// have failed for longer than a period, or once the watcher is stopped.
// This goes beyond Juju's API.
func (w *Watcher) KeyStates() ([]KeyState, error) {
	return w.KeyStatesContext(context.Background())
}

// KeyStatesContext is KeyStates, giving up waiting when ctx ends: its
// error then wraps ctx.Err().
func (w *Watcher) KeyStatesContext(ctx context.Context) ([]KeyState, error) {
	result := make(chan keyStatesResult, 1)
	r, answered, err := ask(ctx, w, reqKeyStates{result}, result)
	switch {
	case err != nil:
		return nil, annotatef(err, "cannot list the keys of model %q: %s", w.modelUUID, waitingForRead)
	case !answered:
		return nil, annotatef(ErrDying, "cannot list the keys of model %q", w.modelUUID)
	}
	return r.states, r.err
}

// answerKeyStates serves a KeyStates request in the loop: from a fresh
// view, after the first read if there is none yet.
func (w *Watcher) answerKeyStates(req reqKeyStates) {
	switch {
	case w.lastRead.IsZero():
		w.deferred = append(w.deferred, req)
	case !w.fresh():
		req.result <- keyStatesResult{err: w.staleError("")}
	default:
		req.result <- keyStatesResult{states: w.keyStates()}
	}
}

// keyStates reads the states of the model's keys from the tracker and
// the view.
func (w *Watcher) keyStates() []KeyState {
	states := make([]KeyState, 0, w.tracker.SeqCount())
	w.tracker.EachNewest(func(key string, seq int64, alive bool) {
		last, _ := w.view.LastPinged(seq)
		states = append(states, KeyState{Key: key, Seq: seq, Alive: alive, LastSlot: last})
	})
	slices.SortFunc(states, func(a, b KeyState) int { return strings.Compare(a.Key, b.Key) })
	return states
}
