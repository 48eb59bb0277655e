package memstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/presence-go/presence/internal/layout"
	"github.com/presence-go/presence/liveness"
)

// Store is one controller's connection to a Server: a liveness.Store whose
// operations can be delayed, held and failed from outside, on their own,
// while the documents stay the server's. Its methods are safe for
// concurrent use.
type Store struct {
	server *Server // never changes
	name   string  // never changes

	// mu guards the fields below. Operations hold it only to pick their
	// fault, never while they wait.
	mu       sync.Mutex
	rule     func(Call) Fault // nil lets every operation through
	queued   map[Op][]Fault   // faults for the next operations, by Op
	dropNext int              // how many operations still fail as dropped
	// dropped closes when the connection drops, failing the operations
	// waiting on it; DropConnection then puts a new one in its place.
	dropped chan struct{}
}

var _ liveness.Store = (*Store)(nil)

// New returns a store named "memstore" on a new, empty server.
func New() *Store {
	return NewServer().NewStore("memstore")
}

// NewStore returns a new connection to the server, which events and fault
// rules know by name. Make it inside the synctest bubble that uses it.
func (s *Server) NewStore(name string) *Store {
	return &Store{server: s, name: name, queued: make(map[Op][]Fault), dropped: make(chan struct{})}
}

// Server returns the server the store is connected to.
func (s *Store) Server() *Server { return s.server }

// Name returns the store's name.
func (s *Store) Name() string { return s.name }

// SetFaults makes rule decide the fault of every operation of the store
// that no queued fault or dropped connection decides (nil lets them all
// through). rule runs in the goroutine making the operation, with no lock
// held; to keep a run deterministic it should depend only on the Call and
// on state its caller drives.
func (s *Store) SetFaults(rule func(Call) Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rule = rule
}

// Queue gives the next operations of kind op (of any kind for OpAny) the
// faults, one each, in order. Faults queued for the operation's own kind
// come before those queued for OpAny.
func (s *Store) Queue(op Op, faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queued[op] = append(s.queued[op], faults...)
}

// DropConnection drops the store's connection: every operation of the
// store waiting on a Fault's delay or hold fails at once with
// ErrConnectionDropped (Landed tells those that had taken effect), and so
// do the next failNext operations to start, before they reach the server.
func (s *Store) DropConnection(failNext int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.dropped)
	s.dropped = make(chan struct{})
	s.dropNext = max(failNext, 0)
}

// fault returns the fault of the operation call, and the channel that
// closes if the connection drops while it runs.
func (s *Store) fault(call Call) (Fault, <-chan struct{}) {
	s.mu.Lock()
	dropped := s.dropped
	if s.dropNext > 0 {
		s.dropNext--
		s.mu.Unlock()
		return Fault{Err: ErrConnectionDropped}, dropped
	}
	for _, op := range []Op{call.Op, OpAny} {
		if q := s.queued[op]; len(q) > 0 {
			s.queued[op] = q[1:]
			s.mu.Unlock()
			return q[0], dropped
		}
	}
	rule := s.rule
	s.mu.Unlock()
	if rule == nil {
		return Fault{}, dropped
	}
	return rule(call), dropped
}

// run makes the operation call as its fault says: it waits for the
// request to arrive, calls land, which makes the operation take effect on
// the server, then waits for the reply. It returns land's error, or the
// fault's, or what ended a wait.
func (s *Store) run(ctx context.Context, call Call, land func() error) error {
	if err := interrupted(ctx, nil); err != nil {
		return err
	}
	f, dropped := s.fault(call)
	if err := wait(ctx, dropped, f.Delay, f.Hold); err != nil {
		return err
	}
	if f.Err != nil && !f.Landed {
		return f.Err
	}
	err := land()
	if waitErr := wait(ctx, dropped, f.ReplyDelay, f.ReplyHold); waitErr != nil {
		return &landedError{waitErr}
	}
	if f.Err != nil {
		return &landedError{f.Err}
	}
	return err
}

// Names implements liveness.Store.
func (s *Store) Names() liveness.Names { return s.server.names }

// ServerTime implements liveness.Store with the server's clock, to the
// millisecond.
func (s *Store) ServerTime(ctx context.Context) (time.Time, error) {
	var now time.Time
	err := s.run(ctx, Call{Store: s.name, Op: OpServerTime}, func() error {
		now = s.server.serverTime(s.name)
		return nil
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("cannot read the database server's clock: %w", err)
	}
	return now, nil
}

// NextSeq implements liveness.Store.
func (s *Store) NextSeq(ctx context.Context, modelUUID string) (int64, error) {
	var seq int64
	err := s.run(ctx, Call{Store: s.name, Op: OpNextSeq, ModelUUID: modelUUID}, func() error {
		var err error
		seq, err = s.server.nextSeq(s.name, modelUUID)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("cannot take a sequence for model %q from %s: %w", modelUUID, s.server.names.Seqs, err)
	}
	return seq, nil
}

// InsertBeing implements liveness.Store. Inserting a being that exists
// fails with an error for which errors.Is(err, ErrDuplicateKey) holds.
func (s *Store) InsertBeing(ctx context.Context, modelUUID string, seq int64, key string) error {
	err := s.run(ctx, Call{Store: s.name, Op: OpInsertBeing, ModelUUID: modelUUID}, func() error {
		return s.server.insertBeing(s.name, modelUUID, seq, key)
	})
	if err != nil {
		return fmt.Errorf("cannot record being %d for key %q in %s: %w", seq, key, s.server.names.Beings, err)
	}
	return nil
}

// WriteSlots implements liveness.Store: each write takes effect on its
// document on its own, in order, as in an unordered bulk write; the error
// lists those that could not.
func (s *Store) WriteSlots(ctx context.Context, writes []liveness.SlotWrite) error {
	err := s.run(ctx, Call{Store: s.name, Op: OpWriteSlots, Writes: writes}, func() error {
		var failed writeErrors
		for _, w := range writes {
			if err := s.server.writeSlot(s.name, w); err != nil {
				failed = append(failed, err)
			}
		}
		if len(failed) > 0 {
			return failed
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot write %d ping documents to %s: %w", len(writes), s.server.names.Pings, err)
	}
	return nil
}

// ReadSlots implements liveness.Store.
func (s *Store) ReadSlots(ctx context.Context, modelUUID string, slots []int64) ([][]byte, error) {
	var docs [][]byte
	err := s.run(ctx, Call{Store: s.name, Op: OpReadSlots, ModelUUID: modelUUID}, func() error {
		docs = s.server.readSlots(s.name, modelUUID, slots)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read slots %v of model %q from %s: %w", slots, modelUUID, s.server.names.Pings, err)
	}
	return docs, nil
}

// ReadSlotsOfModels implements liveness.Store.
func (s *Store) ReadSlotsOfModels(ctx context.Context, modelUUIDs []string, slots []int64) ([][]byte, error) {
	var docs [][]byte
	err := s.run(ctx, Call{Store: s.name, Op: OpReadSlotsOfModels, Models: modelUUIDs}, func() error {
		docs = s.server.readSlotsOfModels(s.name, modelUUIDs, slots)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read slots %v of %d models from %s: %w", slots, len(modelUUIDs), s.server.names.Pings, err)
	}
	return docs, nil
}

// SlotsFrom implements liveness.Store.
func (s *Store) SlotsFrom(ctx context.Context, modelUUID string, from int64) ([][]byte, error) {
	var docs [][]byte
	err := s.run(ctx, Call{Store: s.name, Op: OpSlotsFrom, ModelUUID: modelUUID}, func() error {
		docs = s.server.slotsFrom(s.name, modelUUID, from)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read the pings of model %q from slot %d in %s: %w", modelUUID, from, s.server.names.Pings, err)
	}
	return docs, nil
}

// BeingsOf implements liveness.Store. fn is called with no lock held, once
// the documents are read.
func (s *Store) BeingsOf(ctx context.Context, modelUUID string, seqs []int64, fn func(doc []byte)) error {
	var docs [][]byte
	err := s.run(ctx, Call{Store: s.name, Op: OpBeingsOf, ModelUUID: modelUUID}, func() error {
		docs = s.server.beingsOf(s.name, modelUUID, seqs)
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot read %d beings of model %q from %s: %w", len(seqs), modelUUID, s.server.names.Beings, err)
	}
	for _, doc := range docs {
		fn(doc)
	}
	return nil
}

// BeingsOfModels implements liveness.Store. fn is called with no lock
// held, once the documents are read.
func (s *Store) BeingsOfModels(ctx context.Context, seqs []liveness.ModelSeqs, fn func(doc []byte)) error {
	models := make([]string, len(seqs))
	n := 0
	for i, m := range seqs {
		models[i] = m.ModelUUID
		n += len(m.Seqs)
	}
	var docs [][]byte
	err := s.run(ctx, Call{Store: s.name, Op: OpBeingsOfModels, Models: models}, func() error {
		docs = s.server.beingsOfModels(s.name, models, seqs)
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot read %d beings of %d models from %s: %w", n, len(seqs), s.server.names.Beings, err)
	}
	for _, doc := range docs {
		fn(doc)
	}
	return nil
}

// AllBeings implements liveness.Store as a cursor does: it reads the
// model's range of ids layout.RangeBatch documents at a time, and calls fn
// with each batch with no lock held, so that writes may land between
// batches. A fault's reply comes after the last batch.
func (s *Store) AllBeings(ctx context.Context, modelUUID string, fn func(doc []byte)) error {
	err := s.run(ctx, Call{Store: s.name, Op: OpAllBeings, ModelUUID: modelUUID}, func() error {
		from, _ := layout.ModelRange(modelUUID)
		var batch [][]byte
		for from != "" {
			batch, from = s.server.beingsBatch(s.name, modelUUID, from, layout.RangeBatch, batch)
			for _, doc := range batch {
				fn(doc)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot read the beings of model %q from %s: %w", modelUUID, s.server.names.Beings, err)
	}
	return nil
}

// CountOldSlots implements liveness.Store.
func (s *Store) CountOldSlots(ctx context.Context, modelUUID string, before int64) (int, error) {
	var n int
	err := s.run(ctx, Call{Store: s.name, Op: OpCountOldSlots, ModelUUID: modelUUID}, func() error {
		n = s.server.oldSlots(s.name, modelUUID, before, false)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("cannot count pings of model %q older than slot %d in %s: %w", modelUUID, before, s.server.names.Pings, err)
	}
	return n, nil
}

// RemoveOldSlots implements liveness.Store.
func (s *Store) RemoveOldSlots(ctx context.Context, modelUUID string, before int64) (int, error) {
	var n int
	err := s.run(ctx, Call{Store: s.name, Op: OpRemoveOldSlots, ModelUUID: modelUUID}, func() error {
		n = s.server.oldSlots(s.name, modelUUID, before, true)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("cannot prune pings of model %q older than slot %d from %s: %w", modelUUID, before, s.server.names.Pings, err)
	}
	return n, nil
}

// RemoveBeings implements liveness.Store.
func (s *Store) RemoveBeings(ctx context.Context, modelUUID string, seqs []int64) (int, error) {
	var n int
	err := s.run(ctx, Call{Store: s.name, Op: OpRemoveBeings, ModelUUID: modelUUID}, func() error {
		n = s.server.removeBeings(s.name, modelUUID, seqs)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("cannot remove %d superseded beings of model %q from %s: %w", len(seqs), modelUUID, s.server.names.Beings, err)
	}
	return n, nil
}

// RemoveModel implements liveness.Store.
func (s *Store) RemoveModel(ctx context.Context, modelUUID string) error {
	err := s.run(ctx, Call{Store: s.name, Op: OpRemoveModel, ModelUUID: modelUUID}, func() error {
		s.server.removeModel(s.name, modelUUID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot remove model %q: %w", modelUUID, err)
	}
	return nil
}
