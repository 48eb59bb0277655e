package liveness_test

import (
	"slices"
	"testing"

	"github.com/presence-go/presence/liveness"
)

// keyStates returns w's KeyStates, failing the test on an error.
func keyStates(t *testing.T, w *liveness.Watcher) []liveness.KeyState {
	t.Helper()
	states, err := w.KeyStates()
	if err != nil {
		t.Fatalf("KeyStates: %v", err)
	}
	return states
}

// seqOf returns the sequence p holds.
func seqOf(p *liveness.Pinger) int64 {
	seq, _ := p.Report()["seq"].(int64)
	return seq
}

// TestKeyStatesFollowTheDecidingSequence runs a key that keeps pinging, one
// restarted (its new sequence decides), one killed, and one in another
// model, through three periods: KeyStates gives each key of the model the
// sequence that decides its liveness and the last slot that sequence
// pinged, and leaves out the killed key once its slot is out of the
// window.
func TestKeyStatesFollowTheDecidingSequence(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		pb := e.batcher()
		w := e.watcher(modelA)
		steady := e.pinger(modelA, "steady", pb)
		restarted := e.pinger(modelA, "restarted", pb)
		e.stop(restarted)
		e.startPinger(restarted)
		killed := e.pinger(modelA, "killed", pb)
		e.pinger(modelB, "elsewhere", pb)
		flushAndSync(t, pb, w)
		if seqOf(restarted) <= 2 {
			t.Fatalf("the restarted pinger holds seq %d, want its second one", seqOf(restarted))
		}

		want := []liveness.KeyState{
			{Key: "killed", Seq: seqOf(killed), Alive: true, LastSlot: startSlot},
			{Key: "restarted", Seq: seqOf(restarted), Alive: true, LastSlot: startSlot},
			{Key: "steady", Seq: seqOf(steady), Alive: true, LastSlot: startSlot},
		}
		if got := keyStates(t, w); !slices.Equal(got, want) {
			t.Fatalf("KeyStates = %+v, want %+v", got, want)
		}

		// A period on, the running pingers ping the next slot; the killed
		// key keeps its last ping, under a dead bit.
		e.kill(killed)
		e.advance(period)
		flushAndSync(t, pb, w)
		next := startSlot + int64(period.Seconds())
		want = []liveness.KeyState{
			{Key: "killed", Seq: seqOf(killed), Alive: false, LastSlot: startSlot},
			{Key: "restarted", Seq: seqOf(restarted), Alive: true, LastSlot: next},
			{Key: "steady", Seq: seqOf(steady), Alive: true, LastSlot: next},
		}
		if got := keyStates(t, w); !slices.Equal(got, want) {
			t.Fatalf("a period on: KeyStates = %+v, want %+v", got, want)
		}

		// Once the killed key's slot has left the window, it is not listed.
		e.advance(period)
		flushAndSync(t, pb, w)
		got := keyStates(t, w)
		if len(got) != 2 || got[0].Key != "restarted" || got[1].Key != "steady" || !got[0].Alive || !got[1].Alive {
			t.Errorf("two periods on: KeyStates = %+v, want restarted and steady, alive", got)
		}
	})
}
