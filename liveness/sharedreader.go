package liveness

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/juju/clock"
)

// sharedReader polls for every watcher of one store: once a period, one
// poll reads the live slot documents of every model they watch, a
// thousand ids a request (_id $in, so no index is needed and a database
// Juju wrote serves as it is), and one lookup finds the beings of the
// sequences any of them has not met, a thousand a request. A controller
// that watches a thousand models then reads its database a few times a
// period rather than a thousand.
//
// It lives below the Watcher rather than as a controller-wide watcher of
// its own: Juju's API makes one Watcher per model, one at a time, and
// sharing beneath it gives every program that saving, on either face,
// without a change, as the server clock is shared. Sharing follows the
// server clock: the watchers of one connection and local clock share a
// reader, when they also read the same collections and go by the same
// slot period (a poll reads the slots of one period). The reader works
// out the slots in that shared clock's frame (liveSlots), the old
// frame's too during the grace after a move.
//
// Each watcher keeps its own view, tracker, events, pruning and outage:
// the reader hands it its model's documents, and its loop applies them
// as it applies its own reads, so that one model's corrupt document
// blinds no other. A round goes:
//
//  1. A watcher whose period is up asks for a poll; the reader polls for
//     every watcher then subscribed, and hands each its model's
//     documents, the slots read and the poll's ticket (or the error that
//     failed the poll, which each counts as a failed read).
//  2. Each watcher works out what the documents change in its view and
//     replies with the sequences whose keys it does not know, keeping
//     the read pending: it applies nothing yet, so its sync stays all or
//     nothing.
//  3. Once every watcher has replied, the reader looks up the beings of
//     all those sequences and hands each watcher its model's beings (or
//     the error); the watcher then applies the read and the keys at once,
//     or, on an error, drops the read and counts a failed read.
//
// A watcher still reads by itself when asked (Sync, StartSync) and for
// its first read, which then cost what its model changed rather than a
// poll of every model. Tickets order those reads against polls: a poll
// takes one as it begins, an own read as it ends, and a watcher drops a
// poll that began before its last own read ended, whose documents may be
// older than its view. The reader does not wait for the reply of a
// watcher busy with a read of its own, which will drop the poll.
//
// The reader's goroutine runs from its first watcher's acquire to its
// last watcher's release, which ends it and waits for it.
type sharedReader struct {
	key    readerKey
	store  Store
	local  clock.Clock
	period time.Duration
	// clock is the server clock the reader's watchers share (one that
	// does not measure under WithClockSkew(false), as theirs).
	clock *serverClock
	// tickets orders polls and the watchers' own reads (see above).
	tickets atomic.Int64
	// users counts the watchers that acquired the reader; guarded by
	// readersMu.
	users int

	// mu guards the fields below, and those of every subscription.
	mu   sync.Mutex
	subs map[*subscription]struct{}
	// askers counts the subscriptions whose wantPoll is set, and
	// awaited those whose reply the current round waits for.
	askers, awaited int
	// wake is signalled when a poll is asked for and when the last reply
	// a round waits for comes; one pending signal is enough.
	wake   chan struct{}
	cancel context.CancelFunc
	done   chan struct{} // closed when the goroutine ends
}

// readerKey names a shared reader: what its watchers have in common.
type readerKey struct {
	connection any
	names      Names
	local      clock.Clock
	period     time.Duration
	measure    bool
}

var (
	readersMu sync.Mutex
	readers   = map[readerKey]*sharedReader{}
)

// acquireSharedReader returns the shared reader of the watchers of store
// configured by cfg, starting it for the first of them, or nil when the
// watcher is to poll on its own: WithSharedReader(false), or a store or
// clock that cannot name a shared one. Each non-nil acquire must be
// matched by one release.
func acquireSharedReader(store Store, cfg config) *sharedReader {
	if !cfg.sharedReader {
		return nil
	}
	conn := connectionOf(store)
	if conn == nil || !reflect.TypeOf(cfg.clock).Comparable() {
		return nil
	}
	key := readerKey{connection: conn, names: store.Names(), local: cfg.clock, period: cfg.period, measure: cfg.measureSkew}
	readersMu.Lock()
	defer readersMu.Unlock()
	r := readers[key]
	if r == nil {
		r = &sharedReader{
			key:    key,
			store:  store,
			local:  cfg.clock,
			period: cfg.period,
			clock:  acquireServerClock(store, cfg),
			subs:   make(map[*subscription]struct{}),
			wake:   make(chan struct{}, 1),
			done:   make(chan struct{}),
		}
		readers[key] = r
		var ctx context.Context
		ctx, r.cancel = context.WithCancel(context.Background())
		go func() {
			defer close(r.done)
			r.run(ctx)
		}()
	}
	r.users++
	return r
}

// release gives back what acquireSharedReader gave. The last user ends
// the reader's goroutine, and waits for it.
func (r *sharedReader) release() {
	readersMu.Lock()
	r.users--
	last := r.users == 0
	if last {
		delete(readers, r.key)
	}
	readersMu.Unlock()
	if last {
		r.cancel()
		<-r.done
		r.clock.release()
	}
}

// signal wakes the reader's goroutine.
func (r *sharedReader) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// run serves rounds until ctx ends.
func (r *sharedReader) run(ctx context.Context) {
	for round := int64(1); ; round++ {
		members := r.awaitAsk(ctx)
		if members == nil {
			return
		}
		r.serve(ctx, round, members)
	}
}

// awaitAsk waits until a watcher asks for a poll, and returns every
// watcher then subscribed, sorted by model; nil once ctx ends.
func (r *sharedReader) awaitAsk(ctx context.Context) []*subscription {
	for {
		r.mu.Lock()
		if r.askers > 0 {
			members := make([]*subscription, 0, len(r.subs))
			for s := range r.subs {
				members = append(members, s)
			}
			r.mu.Unlock()
			slices.SortFunc(members, func(a, b *subscription) int { return strings.Compare(a.model, b.model) })
			return members
		}
		r.mu.Unlock()
		select {
		case <-r.wake:
		case <-ctx.Done():
			return nil
		}
	}
}

// serve runs one round for members: the poll, the replies, the lookup.
func (r *sharedReader) serve(ctx context.Context, round int64, members []*subscription) {
	d := delivery{round: round, ticket: r.tickets.Add(1), readAt: r.local.Now(), began: time.Now()}
	opCtx, cancel := context.WithTimeout(ctx, opTimeoutOf(members))
	defer cancel()
	docs, err := r.poll(opCtx, modelsOf(members), &d)
	if ctx.Err() != nil {
		return
	}
	r.mu.Lock()
	for _, s := range members {
		if s.gone {
			continue
		}
		md := d
		if err != nil {
			md.err = err
		} else {
			md.docs = docs[s.model]
			s.owes, s.need = round, nil
			if !s.busy {
				// A watcher busy with a read of its own will drop the
				// poll, which began before that read ends.
				s.awaited = true
				r.awaited++
			}
		}
		if s.wantPoll {
			s.wantPoll = false
			r.askers--
		}
		s.putLocked(md)
	}
	r.mu.Unlock()
	if err != nil {
		return
	}
	needs, needers := r.awaitReplies(ctx, round, members)
	if len(needs) == 0 {
		return
	}
	beings, err := r.lookup(opCtx, needs)
	if ctx.Err() != nil {
		return
	}
	r.mu.Lock()
	for _, s := range needers {
		if s.gone {
			continue
		}
		md := d
		md.lookup, md.docs, md.err = true, beings[s.model], err
		s.putLocked(md)
	}
	r.mu.Unlock()
}

// awaitReplies waits until every member that owes a reply for round has
// given it, has left, or is busy with a read of its own, and returns the
// sequences they asked for by model, and who asked. It returns nothing
// once ctx ends.
func (r *sharedReader) awaitReplies(ctx context.Context, round int64, members []*subscription) ([]ModelSeqs, []*subscription) {
	for {
		r.mu.Lock()
		if r.awaited == 0 {
			break
		}
		r.mu.Unlock()
		select {
		case <-r.wake:
		case <-ctx.Done():
			r.mu.Lock()
			for _, s := range members {
				s.settleLocked()
				s.owes = 0
			}
			r.mu.Unlock()
			return nil, nil
		}
	}
	defer r.mu.Unlock()
	var needs []ModelSeqs
	var needers []*subscription
	for _, s := range members {
		if s.owes != round {
			continue
		}
		if len(s.need) > 0 && !s.gone {
			needers = append(needers, s)
			if n := len(needs); n > 0 && needs[n-1].ModelUUID == s.model {
				needs[n-1].Seqs = append(needs[n-1].Seqs, s.need...)
			} else {
				needs = append(needs, ModelSeqs{ModelUUID: s.model, Seqs: slices.Clone(s.need)})
			}
		}
		s.owes, s.need = 0, nil
	}
	for i := range needs {
		slices.Sort(needs[i].Seqs)
		needs[i].Seqs = slices.Compact(needs[i].Seqs)
	}
	return needs, needers
}
