package liveness

import "time"

// subscription is one watcher's place in a shared reader. Its fields are
// guarded by the reader's mu, but for those set at subscription and
// notify, on which only its watcher receives.
type subscription struct {
	reader    *sharedReader
	model     string
	opTimeout time.Duration
	// notify is signalled when inbox holds something.
	notify chan struct{}

	inbox    []delivery // what rounds brought, in order, not yet taken
	wantPoll bool       // the watcher asked for a poll that has not served it yet
	busy     bool       // the watcher reads on its own
	owes     int64      // the round whose documents it was handed; 0 when none
	awaited  bool       // the round waits for its reply
	need     []int64    // the sequences its reply asks for
	gone     bool       // it left
}

// delivery is what a round brings a watcher: the documents of its model's
// live slots and the slots read, or, with lookup set, the beings of the
// sequences it asked for; or the error that failed the round.
type delivery struct {
	round  int64
	ticket int64     // taken as the poll began
	readAt time.Time // the local clock as the poll began
	began  time.Time // the wall clock as the poll began
	slots  []int64
	docs   [][]byte
	lookup bool
	err    error
}

// subscribe makes the watcher of model one the reader polls for. Each
// subscription must be matched by one leave.
func (r *sharedReader) subscribe(model string, opTimeout time.Duration) *subscription {
	s := &subscription{reader: r, model: model, opTimeout: opTimeout, notify: make(chan struct{}, 1)}
	r.mu.Lock()
	r.subs[s] = struct{}{}
	r.mu.Unlock()
	return s
}

// leave ends the subscription: no round waits for it or serves it again.
func (s *subscription) leave() {
	r := s.reader
	r.mu.Lock()
	s.gone = true
	delete(r.subs, s)
	if s.wantPoll {
		s.wantPoll = false
		r.askers--
	}
	s.settleLocked()
	r.mu.Unlock()
}

// settleLocked stops the current round waiting for the watcher's reply,
// waking the reader if it was the last one.
func (s *subscription) settleLocked() {
	if !s.awaited {
		return
	}
	s.awaited = false
	r := s.reader
	r.awaited--
	if r.awaited == 0 {
		r.signal()
	}
}

// ask asks for a poll that serves the watcher.
func (s *subscription) ask() {
	r := s.reader
	r.mu.Lock()
	if !s.wantPoll {
		s.wantPoll = true
		r.askers++
	}
	r.mu.Unlock()
	r.signal()
}

// reply answers a round's delivery: need lists the sequences whose beings
// the watcher wants, if any. The delivery served any poll the watcher
// asked for since it was made, so the ask is withdrawn, before the round
// can end and start another for it.
func (s *subscription) reply(round int64, need []int64) {
	r := s.reader
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.wantPoll {
		s.wantPoll = false
		r.askers--
	}
	if s.owes != round || !s.awaited {
		return // the round no longer waits for it
	}
	s.need = need
	s.settleLocked()
}

// ownReadBegins says the watcher starts a read of its own: the round in
// progress need not wait for its reply, which will drop the poll.
func (s *subscription) ownReadBegins() {
	r := s.reader
	r.mu.Lock()
	s.busy = true
	s.settleLocked()
	r.mu.Unlock()
}

// ownReadEnded says the watcher's own read ended, and returns its ticket:
// polls with a lower one began before it ended.
func (s *subscription) ownReadEnded() int64 {
	ticket := s.reader.tickets.Add(1)
	r := s.reader
	r.mu.Lock()
	s.busy = false
	r.mu.Unlock()
	return ticket
}

// putLocked hands d to the watcher.
func (s *subscription) putLocked(d delivery) {
	s.inbox = append(s.inbox, d)
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// take returns what rounds brought the watcher since it last took.
func (s *subscription) take() []delivery {
	r := s.reader
	r.mu.Lock()
	defer r.mu.Unlock()
	taken := s.inbox
	s.inbox = nil
	return taken
}
