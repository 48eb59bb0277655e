package memstore

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/presence-go/presence/liveness"
)

// Op names an operation of the Store interface.
type Op int

// The operations, one for each method of liveness.Store that takes a
// context. OpAny stands for every one of them where an Op selects.
const (
	OpAny Op = iota
	OpServerTime
	OpNextSeq
	OpInsertBeing
	OpWriteSlots
	OpReadSlots
	OpSlotsFrom
	OpBeingsOf
	OpAllBeings
	OpCountOldSlots
	OpRemoveOldSlots
	OpRemoveBeings
	OpRemoveModel
	OpReadSlotsOfModels
	OpBeingsOfModels
)

var opNames = [...]string{
	OpAny:               "any",
	OpServerTime:        "ServerTime",
	OpNextSeq:           "NextSeq",
	OpInsertBeing:       "InsertBeing",
	OpWriteSlots:        "WriteSlots",
	OpReadSlots:         "ReadSlots",
	OpSlotsFrom:         "SlotsFrom",
	OpBeingsOf:          "BeingsOf",
	OpAllBeings:         "AllBeings",
	OpCountOldSlots:     "CountOldSlots",
	OpRemoveOldSlots:    "RemoveOldSlots",
	OpRemoveBeings:      "RemoveBeings",
	OpRemoveModel:       "RemoveModel",
	OpReadSlotsOfModels: "ReadSlotsOfModels",
	OpBeingsOfModels:    "BeingsOfModels",
}

// String returns the name of the Store method.
func (op Op) String() string {
	if op < 0 || int(op) >= len(opNames) {
		return "Op(" + strconv.Itoa(int(op)) + ")"
	}
	return opNames[op]
}

// IsWrite tells whether the operation changes documents, so that its
// failure may come before or after it took effect.
func (op Op) IsWrite() bool {
	switch op {
	case OpNextSeq, OpInsertBeing, OpWriteSlots, OpRemoveOldSlots, OpRemoveBeings, OpRemoveModel:
		return true
	}
	return false
}

// Call is an operation as it starts, as a fault rule sees it.
type Call struct {
	Store     string // the name of the Store making it
	Op        Op
	ModelUUID string               // empty for ServerTime, WriteSlots and the reads of several models
	Models    []string             // the models ReadSlotsOfModels and BeingsOfModels read; the rule must not modify them
	Writes    []liveness.SlotWrite // WriteSlots' writes; the rule must not modify them
}

// Fault is what happens to one operation on its way to the server and
// back. The zero Fault lets it through at once.
//
// An operation first waits Delay, then until Hold opens; then it fails
// with Err, having changed nothing, unless Landed is set; otherwise it
// takes effect, waits ReplyDelay, then until ReplyHold opens, and returns
// its result, or Err when Landed is set. Every wait ends early, failing
// the operation, when its context ends (with the context's error) or its
// store's connection drops (with ErrConnectionDropped): before it took
// effect or after, as Landed reports.
type Fault struct {
	Delay time.Duration // latency before the operation reaches the server
	Hold  *Gate         // holds the operation before it reaches the server

	Err    error // the error the operation fails with, if any
	Landed bool  // Err comes after the operation took effect: the reply is lost

	ReplyDelay time.Duration // latency of the reply
	ReplyHold  *Gate         // holds the reply
}

// ErrConnectionDropped is the error of the operations a dropped
// connection fails (see Store.DropConnection).
var ErrConnectionDropped = errors.New("memstore: connection dropped")

// Landed tells whether err is the failure of an operation that took
// effect on the server first: a write whose reply was lost.
func Landed(err error) bool {
	var l *landedError
	return errors.As(err, &l)
}

// landedError is the failure of an operation that took effect.
type landedError struct{ err error }

func (e *landedError) Error() string { return e.err.Error() + " (after the operation took effect)" }
func (e *landedError) Unwrap() error { return e.err }

// Gate holds the operations given it in a Fault until it opens. Make it
// inside the synctest bubble that uses it: an operation held by a gate is
// then durably blocked.
type Gate struct {
	open    chan struct{}
	once    sync.Once
	waiting atomic.Int64
}

// NewGate returns a closed gate.
func NewGate() *Gate {
	return &Gate{open: make(chan struct{})}
}

// Open releases every operation the gate holds, and lets every later one
// through. Opening an open gate does nothing.
func (g *Gate) Open() {
	g.once.Do(func() { close(g.open) })
}

// Waiting returns how many operations the gate holds now.
func (g *Gate) Waiting() int {
	return int(g.waiting.Load())
}

// wait waits delay, then for hold to open (when not nil), and returns nil;
// or it returns the context's error when ctx ends first, or
// ErrConnectionDropped when dropped closes first. It waits on channels and
// a timer only, so that a waiting operation is durably blocked in a
// synctest bubble, and its delay passes on the bubble's clock.
func wait(ctx context.Context, dropped <-chan struct{}, delay time.Duration, hold *Gate) error {
	if delay > 0 {
		timer := time.NewTimer(delay)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-ctx.Done():
		case <-dropped:
		}
		if err := interrupted(ctx, dropped); err != nil {
			return err
		}
	}
	if hold != nil {
		hold.waiting.Add(1)
		defer hold.waiting.Add(-1)
		select {
		case <-hold.open:
		case <-ctx.Done():
		case <-dropped:
		}
		if err := interrupted(ctx, dropped); err != nil {
			return err
		}
	}
	return nil
}

// interrupted returns why a wait that just ended must fail the operation,
// if it must: its context ended, or its connection dropped. It judges a
// deadline by the clock, not by whether the context has been told yet, so
// that a wait ending on a timer at the very instant of its deadline fails
// whichever goroutine the scheduler ran first: ties go to the context.
func interrupted(ctx context.Context, dropped <-chan struct{}) error {
	if deadline, ok := ctx.Deadline(); ok && !time.Now().Before(deadline) {
		return context.DeadlineExceeded
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-dropped:
		return ErrConnectionDropped
	default:
		return nil
	}
}
