package wirebridge

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// writeGate lets one write command at a time reach the server, in the order
// the writes arrived, and holds all of them while a Hold is in force. A
// sync.Mutex would serialise the writes too, but it does not hand over in
// arrival order, and a goroutine waiting on it cannot give up when its
// connection is dropped.
type writeGate struct {
	// mu guards the fields below.
	mu sync.Mutex
	// busy is true while a write is at the server.
	busy bool
	// holds counts the Holds not yet released.
	holds int
	// waiting lists the writes waiting for their turn, oldest first; a
	// write's channel is closed when its turn comes.
	waiting []chan struct{}
	// changed is closed and replaced whenever holds or waiting changes, to
	// wake WaitHeld.
	changed chan struct{}
}

func newWriteGate() *writeGate {
	return &writeGate{changed: make(chan struct{})}
}

// acquire waits for the calling write's turn. It returns false, without the
// turn, if abandon closes first.
func (g *writeGate) acquire(abandon <-chan struct{}) bool {
	g.mu.Lock()
	if !g.busy && g.holds == 0 && len(g.waiting) == 0 {
		g.busy = true
		g.mu.Unlock()
		return true
	}
	turn := make(chan struct{})
	g.waiting = append(g.waiting, turn)
	g.notifyLocked()
	g.mu.Unlock()

	select {
	case <-turn:
		return true
	case <-abandon:
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if i := slices.Index(g.waiting, turn); i >= 0 {
		g.waiting = slices.Delete(g.waiting, i, i+1)
		g.notifyLocked()
		return false
	}
	// The turn came while abandoning: pass it on.
	g.busy = false
	g.grantLocked()
	return false
}

// release ends the current write's turn.
func (g *writeGate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.busy = false
	g.grantLocked()
}

// hold stops writes from getting their turn until unhold.
func (g *writeGate) hold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.holds++
	g.notifyLocked()
}

func (g *writeGate) unhold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.holds--
	g.notifyLocked()
	g.grantLocked()
}

// grantLocked gives the oldest waiting write its turn if nothing stops it.
func (g *writeGate) grantLocked() {
	if g.busy || g.holds > 0 || len(g.waiting) == 0 {
		return
	}
	turn := g.waiting[0]
	g.waiting = g.waiting[1:]
	g.busy = true
	close(turn)
	g.notifyLocked()
}

func (g *writeGate) notifyLocked() {
	close(g.changed)
	g.changed = make(chan struct{})
}

// heldLocked returns how many writes a Hold is keeping from the server.
func (g *writeGate) heldLocked() int {
	if g.holds == 0 {
		return 0
	}
	return len(g.waiting)
}

// Hold keeps write commands (insert, update, delete, findAndModify) from
// reaching the server until Release. Reads, handshakes and every other
// command go on as usual. A write already at the server when the Hold
// starts finishes, the rest of a split update included.
type Hold struct {
	bridge  *Bridge
	release sync.Once
	// released is closed by Release.
	released chan struct{}
}

// HoldWrites holds every write command that has not reached the server yet
// and every one that arrives, until the returned Hold is released. Held
// writes wait in the order they arrived and go on in that order. Closing the
// bridge or dropping connections ends the wait of the writes concerned
// (their clients see the connection close); holds may overlap, and writes go
// on once all are released.
func (b *Bridge) HoldWrites() *Hold {
	b.writes.hold()
	return &Hold{bridge: b, released: make(chan struct{})}
}

// Release lets the held writes go on, one at a time in arrival order. It
// may be called more than once.
func (h *Hold) Release() {
	h.release.Do(func() {
		close(h.released)
		h.bridge.writes.unhold()
	})
}

// ErrReleased is returned by WaitHeld on a Hold already released.
var ErrReleased = errors.New("wirebridge: hold released")

// WaitHeld waits until at least n write commands are being held, and
// returns an error if that has not happened within timeout, or if the Hold
// is released or the bridge closed first.
func (h *Hold) WaitHeld(n int, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	g := h.bridge.writes
	for {
		g.mu.Lock()
		held, changed := g.heldLocked(), g.changed
		g.mu.Unlock()
		select {
		case <-h.released:
			return ErrReleased
		default:
		}
		if held >= n {
			return nil
		}
		select {
		case <-changed:
		case <-h.released:
			return ErrReleased
		case <-h.bridge.ctx.Done():
			return errors.New("wirebridge: bridge closed")
		case <-timer.C:
			return fmt.Errorf("wirebridge: %d write commands held after %v, want %d", held, timeout, n)
		}
	}
}
