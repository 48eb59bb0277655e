package memstore

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/presence-go/presence/internal/bsonraw"
	"github.com/presence-go/presence/liveness"
)

// Server is one in-memory database holding the three collections of one
// base: what several controllers share. Each controller reaches it through
// a Store of its own (NewStore), which can fail on its own. Its methods
// are safe for concurrent use.
type Server struct {
	// mu guards every field below, and serialises the operations of all
	// stores on the documents, one document at a time as a server does.
	mu sync.Mutex

	colls   [3]*collection   // by Collection
	clock   func() time.Time // the server's clock; nil for time.Now
	observe func(Event)      // nil when nothing observes

	names liveness.Names // never changes
}

// Collection names one of the three collections.
type Collection int

// The collections hanging off the base: sequence counters, beings and slot
// documents.
const (
	Seqs Collection = iota
	Beings
	Pings
)

// String returns the collection's suffix, as in "presence.pings".
func (c Collection) String() string {
	switch c {
	case Seqs:
		return "seqs"
	case Beings:
		return "beings"
	case Pings:
		return "pings"
	}
	return fmt.Sprintf("Collection(%d)", int(c))
}

func (c Collection) valid() bool { return c >= Seqs && c <= Pings }

// NewServer returns an empty server whose clock is time.Now (the bubble's
// clock inside a synctest bubble). Its collections are named as Juju's
// base "presence" in a database "mem".
func NewServer() *Server {
	return &Server{
		colls: [3]*collection{newCollection(), newCollection(), newCollection()},
		names: liveness.Names{Seqs: "mem.presence.seqs", Beings: "mem.presence.beings", Pings: "mem.presence.pings"},
	}
}

// Event is one operation, or one document of a WriteSlots bulk, or one
// batch of an AllBeings cursor, as it took effect on the server. An
// observer may keep it, but must not modify its documents, which are the
// server's (or the reader's).
type Event struct {
	Store string    // the name of the Store that made the operation
	Op    Op        // the operation
	Time  time.Time // the server's clock as it took effect

	ModelUUID string
	// Models are the models of a read of several (ReadSlotsOfModels,
	// BeingsOfModels), which leaves ModelUUID empty.
	Models []string
	// Slot is the slot document a WriteSlots write went to, or the slot
	// before which CountOldSlots and RemoveOldSlots counted; Alive and
	// Dead are the bits a write ORed.
	Slot        int64
	Alive, Dead []liveness.FieldBits
	// Seq is the value NextSeq returned, or the sequence InsertBeing
	// recorded; Key is the key InsertBeing recorded.
	Seq int64
	Key string
	// Doc is the document as a write left it (NextSeq, InsertBeing and
	// each WriteSlots document); nil when the write failed.
	Doc []byte
	// Docs is what a read returned: the documents of ReadSlots,
	// ReadSlotsOfModels or SlotsFrom, or one batch of BeingsOf,
	// BeingsOfModels or AllBeings.
	Docs [][]byte
	// N is how many documents a count or a removal counted or removed.
	N int
	// Err is why the server refused the operation or this document: a
	// duplicate _id, a field of the wrong type.
	Err error
}

// SetClock makes now the server's clock, which ServerTime reports and
// events carry; nil restores time.Now.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clock = now
}

// Observe makes fn see every operation as it takes effect, in that order
// (nil stops it). fn runs with the server locked, so that the order it
// sees is the order of the documents' changes: it must not call the
// server or its stores, and should return quickly.
func (s *Server) Observe(fn func(Event)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.observe = fn
}

// Doc returns a copy of the document of id in c, and whether there is one.
func (s *Server) Doc(c Collection, id string) ([]byte, bool) {
	if !c.valid() {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	doc, ok := s.colls[c].get(id)
	return clone(doc), ok
}

// Docs returns a copy of every document in c, in the order of their _id.
func (s *Server) Docs(c Collection) [][]byte {
	if !c.valid() {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	docs := s.colls[c].all()
	for i, doc := range docs {
		docs[i] = clone(doc)
	}
	return docs
}

// Put stores doc in c in place of any document with its _id, as another
// program writing to the database would: doc may be any well-formed BSON
// document with a string _id, and need not be one the engine writes.
// Observers see nothing of it.
func (s *Server) Put(c Collection, doc []byte) error {
	if !c.valid() {
		return fmt.Errorf("memstore: no collection %v", c)
	}
	if err := bsonraw.Validate(doc); err != nil {
		return fmt.Errorf("memstore: cannot put a malformed document: %w", err)
	}
	id, err := idOf(doc)
	if err != nil {
		return fmt.Errorf("memstore: cannot put the document: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.colls[c].put(id, clone(doc))
	return nil
}

// Remove removes the document of id from c, as another program would, and
// tells whether there was one. Observers see nothing of it.
func (s *Server) Remove(c Collection, id string) bool {
	if !c.valid() {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.colls[c].remove(id)
}

// nowLocked returns the server's clock, to the millisecond as a BSON date
// carries it and in UTC, as the drivers decode one.
func (s *Server) nowLocked() time.Time {
	now := time.Now
	if s.clock != nil {
		now = s.clock
	}
	return time.UnixMilli(now().UnixMilli()).UTC()
}

// emitLocked hands e to the observer, if any, stamped with the server's
// clock.
func (s *Server) emitLocked(e Event) {
	if s.observe == nil {
		return
	}
	e.Time = s.nowLocked()
	s.observe(e)
}

// observedLocked tells whether anything observes the server: reads then
// keep what they return for the event.
func (s *Server) observedLocked() bool {
	return s.observe != nil
}

// ErrDuplicateKey is the error of an insert of a document whose _id
// exists, as MongoDB's E11000 duplicate key error.
var ErrDuplicateKey = errors.New("E11000 duplicate key error")

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}
