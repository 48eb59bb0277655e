package wirebridge

import (
	"testing"
	"time"
)

// heldWrites reads how many writes a gate is holding.
func heldWrites(g *writeGate) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.heldLocked()
}

// waitWaiting waits until n writes wait at the gate.
func waitWaiting(t *testing.T, g *writeGate, n int) {
	t.Helper()
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	for {
		g.mu.Lock()
		waiting, changed := len(g.waiting), g.changed
		g.mu.Unlock()
		if waiting == n {
			return
		}
		select {
		case <-changed:
		case <-timer.C:
			t.Fatalf("%d writes waiting, want %d", waiting, n)
		}
	}
}

func TestWriteGateGivesTurnsInArrivalOrder(t *testing.T) {
	g := newWriteGate()
	if !g.acquire(nil) {
		t.Fatal("first write did not get its turn")
	}
	order := make(chan int, 3)
	for i := range 3 {
		go func() {
			if g.acquire(nil) {
				order <- i
				g.release()
			}
		}()
		waitWaiting(t, g, i+1)
	}
	if n := heldWrites(g); n != 0 {
		t.Fatalf("%d writes counted as held with no hold", n)
	}
	g.release()
	for want := range 3 {
		if got := <-order; got != want {
			t.Fatalf("write %d went before write %d", got, want)
		}
	}
}

func TestWriteGateAbandonedWaitFreesTheGate(t *testing.T) {
	g := newWriteGate()
	g.hold()
	abandon := make(chan struct{})
	got := make(chan bool)
	go func() { got <- g.acquire(abandon) }()
	waitWaiting(t, g, 1)
	if n := heldWrites(g); n != 1 {
		t.Fatalf("%d writes held, want 1", n)
	}
	close(abandon)
	if <-got {
		t.Fatal("an abandoned write got its turn")
	}
	if n := heldWrites(g); n != 0 {
		t.Fatalf("%d writes held after the only one gave up", n)
	}
	g.unhold()
	if !g.acquire(nil) {
		t.Fatal("the gate stayed shut after the hold ended")
	}
	g.release()
}
