package liveness

import (
	"context"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"gopkg.in/tomb.v2"

	"github.com/presence-go/presence/internal/bitfield"
	"github.com/presence-go/presence/internal/layout"
	"github.com/presence-go/presence/internal/slot"
)

// PingBatcher aggregates several pingers to update the database on a fixed
// schedule.
//
// Pings are ORed together in memory and written with $bit or, one upsert
// per (model, slot) document per flush that has something new for it. A
// ping of a sequence already written into the previous slot is a refresh,
// held and written with the others once the slot's ping window is over; a
// steady fleet so costs about one write per document per slot. Other pings
// are written by the next flush, and a bit already written is never
// written again. Because OR is idempotent, a flush that fails keeps its
// pings and retries them with the next one; only pings of slots that no
// watcher reads any more are dropped.
type PingBatcher struct {
	store Store
	cfg   config
	tomb  tomb.Tomb

	// closed is set once the batcher is dying, so that Ping can refuse
	// without touching the tomb's lock.
	closed atomic.Bool

	// shards hold the pings not yet written. A ping goes to the shard of
	// its bit position, so that agents pinging at once rarely wait for the
	// same lock; a flush empties every shard and merges their buckets.
	shards [pingShards]pingShard

	// syncs carries Sync requests to the loop; each gets the flush's error.
	syncs chan chan error

	stats batcherStats

	// The fields below belong to the loop.
	outage outage     // failed flushes in a row
	plan   *writePlan // what has been written and what waits
	// delta is the server's clock minus the local one, measured when
	// measured is set, at measuredAt, to tell when a slot's refreshes are
	// due; until then they are written at once.
	delta      time.Duration
	measured   bool
	measuredAt time.Time
}

// remeasureEvery is how often a batcher measures the server's clock again.
const remeasureEvery = 10 * time.Minute

// pingShards is how many independently locked parts the pending pings are
// split into. Eight goroutines pinging in parallel went from 190 ns to 41 ns
// a ping when split eight ways (see BENCHMARKS.md).
const pingShards = 8

// pingShard is one part of the pending pings.
type pingShard struct {
	// mu guards the fields below, shared by Ping and the flush loop.
	mu        sync.Mutex
	pending   map[bucketKey]*bucket
	last      *bucket  // the bucket of the previous ping: the usual target of the next
	pingCount int64    // pings taken, for Report; counted under mu, which Ping holds anyway
	_         [64]byte // keeps neighbouring shards' locks off one cache line
}

// bucketKey names one slot document.
type bucketKey struct {
	modelUUID string
	slot      int64
}

// bucket is the pings of one slot document not yet written.
type bucket struct {
	bucketKey
	fields fieldSet // field index → ORed fieldBits
}

// batcherStats are counters read by Report; updated atomically.
type batcherStats struct {
	flushes, writes, failures, dropped atomic.Int64
}

// NewPingBatcher creates a worker that will batch ping requests and write
// them to store's pings collection: every flush interval
// (DefaultFlushInterval unless WithFlushInterval says otherwise), drawn
// each time between 0.8 and 1.2 times the interval so that the batchers of
// several controllers do not write in step. A nil store gives a batcher
// that is already dead with the reason.
func NewPingBatcher(store Store, opts ...Option) *PingBatcher {
	if err := checkStore(store); err != nil {
		return NewDeadPingBatcher(err, opts...)
	}
	cfg := batcherConfig(newConfig(opts))
	pb := &PingBatcher{
		store: store,
		cfg:   cfg,
		syncs: make(chan chan error),
		plan:  newWritePlan(cfg.period),
	}
	for i := range pb.shards {
		pb.shards[i].pending = make(map[bucketKey]*bucket)
	}
	pb.tomb.Go(pb.loop)
	return pb
}

// batcherConfig fits the flush interval to the slot period and sets the
// default outage tolerance of a batcher: the write slack. A write that
// fails for longer would let live keys read dead, so the batcher then
// stops with an error for its owner to act on rather than retry quietly.
func batcherConfig(cfg config) config {
	if longest := slot.MaxFlushInterval(cfg.period); cfg.flushInterval > longest {
		cfg.logger.Warn("presence: flush interval too long for the slot period; shortened",
			"flush-interval", cfg.flushInterval, "period", cfg.period, "used", longest,
			"reason", "a ping must be written well inside the slot it is for")
		cfg.flushInterval = longest
	}
	if !cfg.toleranceSet {
		cfg.tolerance = slot.WriteSlack(cfg.period, cfg.flushInterval)
	}
	return cfg
}

// NewDeadPingBatcher returns a PingBatcher that is already stopped with an
// error: Wait and Stop return err at once, and Ping and Sync an error for
// which both errors.Is(e, err) and errors.Is(e, ErrStopped) hold. Of the
// options, only WithJujuFace matters.
func NewDeadPingBatcher(err error, opts ...Option) *PingBatcher {
	pb := &PingBatcher{cfg: newConfig(opts)}
	pb.closed.Store(true)
	pb.tomb.Kill(err)
	pb.tomb.Go(func() error { return err })
	pb.tomb.Wait()
	return pb
}

// Ping should be called by a Pinger when it is ready to update its time
// slot. It records the bit in memory and returns; the next flush writes it.
// A nil error means the ping will be written by a flush, the final one
// included: it fails once the batcher is stopping (ErrStopped), or when the
// arguments could not have come from a Pinger (errors.NotValid).
func (pb *PingBatcher) Ping(modelUUID string, slotNum int64, fieldKey string, fieldBit uint64) error {
	if !bitfield.ValidFieldBit(fieldBit) {
		return notValidf("ping bit %#x is not one of the 63 bits of a field", fieldBit)
	}
	field, ok := parseField(fieldKey)
	if !ok {
		return notValidf("ping field %q is not a hexadecimal field name", fieldKey)
	}
	if field > maxField {
		return notValidf("ping field %q is beyond the last field of a sequence", fieldKey)
	}
	shard := &pb.shards[bits.TrailingZeros64(fieldBit)%pingShards]
	shard.mu.Lock()
	// Checked under the shard's lock: the final flush marks the batcher
	// closed before it takes each shard under its lock, so a ping either
	// lands before the take or sees the mark.
	if pb.closed.Load() {
		shard.mu.Unlock()
		return pb.stoppedErr()
	}
	b := shard.last
	if b == nil || b.slot != slotNum || b.modelUUID != modelUUID {
		// A new bucket: check the model id once here rather than on every
		// ping; an id with ':' would put the document under another
		// model's prefix. Only that is checked, whatever the batcher's
		// face: the pingers of either face may share it, and each checked
		// its model by its own face's rule.
		if err := checkModelID(modelUUID); err != nil {
			shard.mu.Unlock()
			return err
		}
		b = shard.bucketLocked(bucketKey{modelUUID, slotNum})
	}
	b.fields.or(field, fieldBit)
	shard.pingCount++
	shard.mu.Unlock()
	return nil
}

// maxField is the largest field index a sequence can have.
const maxField = bitfield.MaxIndex

// parseField reads a field name a Pinger made: the field's index in
// lower-case hexadecimal. Pending pings are kept by index, which is cheaper
// to hash than the name, and written under the index's own name, so a
// name with leading zeros is written where watchers read it. Nothing but
// hex digits gets through, which keeps '.', '$' and the like out of update
// paths.
func parseField(s string) (index uint64, ok bool) {
	if s == "" || len(s) > 16 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			index = index<<4 | uint64(c-'0')
		case 'a' <= c && c <= 'f':
			index = index<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return index, true
}

func (s *pingShard) bucketLocked(k bucketKey) *bucket {
	b := s.pending[k]
	if b == nil {
		b = &bucket{bucketKey: k}
		s.pending[k] = b
	}
	s.last = b
	return b
}

// take empties every shard and returns their buckets merged.
func (pb *PingBatcher) take() map[bucketKey]*bucket {
	var batch map[bucketKey]*bucket
	for i := range pb.shards {
		shard := &pb.shards[i]
		shard.mu.Lock()
		taken := shard.pending
		if len(taken) == 0 {
			// Nothing to take, and the map stays the shard's: it must
			// not become the batch that others are merged into.
			shard.mu.Unlock()
			continue
		}
		shard.pending = make(map[bucketKey]*bucket, len(taken))
		shard.last = nil
		shard.mu.Unlock()
		if batch == nil {
			batch = taken
			continue
		}
		mergeBuckets(batch, taken)
	}
	return batch
}

// mergeBuckets ORs the buckets of from into into.
func mergeBuckets(into, from map[bucketKey]*bucket) {
	for k, b := range from {
		dst := into[k]
		if dst == nil {
			into[k] = b
			continue
		}
		for field, bits := range b.fields.all() {
			dst.fields.or(field, bits)
		}
	}
}

// stoppedErr is what Ping and Sync return once the batcher is stopping:
// ErrStopped, with the error it stopped with if any.
func (pb *PingBatcher) stoppedErr() error {
	if err := pb.tomb.Err(); err != nil && err != tomb.ErrStillAlive {
		return pb.cfg.face.batcherStopped(err)
	}
	return pb.cfg.face.batcherStopped(nil)
}

// Sync asks for an immediate flush of the pings recorded so far, and returns
// once they are written, or with the error that prevented it (ErrStopped
// once the batcher is stopping). Several Sync calls at once share one
// flush.
func (pb *PingBatcher) Sync() error {
	return pb.SyncContext(context.Background())
}

// SyncContext is Sync, giving up waiting when ctx is done; the flush
// itself still happens.
func (pb *PingBatcher) SyncContext(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case pb.syncs <- reply:
	case <-pb.tomb.Dying():
		return pb.stoppedErr()
	case <-ctx.Done():
		return annotatef(ctx.Err(), "PingBatcher.Sync")
	}
	select {
	case err := <-reply:
		return err
	case <-pb.tomb.Dead():
		return pb.stoppedErr()
	case <-ctx.Done():
		return annotatef(ctx.Err(), "PingBatcher.Sync")
	}
}

func (pb *PingBatcher) loop() error {
	defer pb.closed.Store(true)
	for {
		timer := pb.cfg.clock.NewTimer(pb.jittered())
		var replies []chan error
		select {
		case <-pb.tomb.Dying():
			timer.Stop()
			return pb.finalFlush()
		case <-timer.Chan():
		case reply := <-pb.syncs:
			timer.Stop()
			replies = append(replies, reply)
			replies = pb.moreSyncs(replies)
		}
		err := pb.flush(len(replies) > 0)
		for _, reply := range replies {
			reply <- err
		}
		if err == nil {
			pb.outage.ended()
		} else if fatal := pb.outage.failed(pb.cfg, "PingBatcher", err, "collection", pb.store.Names().Pings); fatal != nil {
			return fatal
		}
	}
}

// finalFlush closes the batcher to new pings and writes everything it
// holds. A connection the server dropped fails the first operation on it,
// so a failed final flush is tried once more; if that fails too, its error
// is what Stop returns.
func (pb *PingBatcher) finalFlush() error {
	pb.closed.Store(true)
	err := pb.flush(true)
	if err != nil {
		err = pb.flush(true)
	}
	if err != nil {
		return annotatef(err, "final flush of the PingBatcher failed")
	}
	return tomb.ErrDying
}

// moreSyncs gathers the Sync requests already waiting, so they share a flush.
func (pb *PingBatcher) moreSyncs(replies []chan error) []chan error {
	for {
		select {
		case reply := <-pb.syncs:
			replies = append(replies, reply)
		default:
			return replies
		}
	}
}

func (pb *PingBatcher) jittered() time.Duration {
	return time.Duration(float64(pb.cfg.flushInterval) * (0.8 + 0.4*rand.Float64()))
}

// flush takes the pings recorded since the last flush into the plan and
// writes what is due, or everything when all is set: one upsert per slot
// document, in bulk requests of at most layout.Batch upserts (MongoDB
// before 3.6 takes no more in one command, and a smaller command is less
// likely to time out on a slow server). What fails to be written stays in
// the plan, to be ORed with newer pings and written by the next flush.
func (pb *PingBatcher) flush(all bool) error {
	for _, b := range pb.take() {
		pb.plan.add(b)
	}
	serverNow, known := pb.serverNow(all)
	writes := pb.plan.due(serverNow, known, all)
	var err error
	if len(writes) > 0 {
		pb.stats.flushes.Add(1)
	}
	for start := 0; start < len(writes); start += layout.Batch {
		chunk := writes[start:min(start+layout.Batch, len(writes))]
		if err = pb.write(chunk); err != nil {
			pb.stats.failures.Add(1)
			kept, dropped := 0, 0
			for _, w := range writes[start:] {
				if pb.plan.failed(w) {
					kept++
				} else {
					dropped++
				}
			}
			pb.stats.dropped.Add(int64(dropped))
			err = annotatef(err, "%d documents kept for the next flush, %d too old dropped", kept, dropped)
			break
		}
		for _, w := range chunk {
			pb.plan.done(w)
		}
		pb.stats.writes.Add(int64(len(chunk)))
	}
	pb.stats.dropped.Add(int64(pb.plan.forget()))
	return err
}

// serverNow returns the server's clock, as last measured, measuring it
// when it never was or long ago; known is false when it cannot be, and
// refreshes are then written at once. A flush that writes everything
// anyway does not measure.
func (pb *PingBatcher) serverNow(all bool) (now time.Time, known bool) {
	local := pb.cfg.clock.Now()
	if !pb.cfg.measureSkew {
		return local, true
	}
	if !all && (!pb.measured || local.Sub(pb.measuredAt) > remeasureEvery) {
		ctx, cancel := pb.cfg.op(context.Background())
		delta, err := clockDelta(ctx, pb.store, pb.cfg.clock.Now)
		cancel()
		if err == nil {
			pb.delta, pb.measured, pb.measuredAt = delta, true, local
		} else if !pb.measured {
			pb.cfg.logger.Warn("presence: cannot read the server's clock; writing refreshes at once", "err", err)
		}
	}
	return local.Add(pb.delta), pb.measured
}

// write sends one bulk request of upserts, with each document's fields in
// the order of their index.
func (pb *PingBatcher) write(writes []plannedWrite) error {
	slotWrites := make([]SlotWrite, len(writes))
	for i, w := range writes {
		slotWrites[i] = SlotWrite{ModelUUID: w.key.modelUUID, Slot: w.key.slot, Alive: sortedFields(w.bits)}
	}
	ctx, cancel := pb.cfg.op(context.Background())
	defer cancel()
	return pb.store.WriteSlots(ctx, slotWrites)
}

// sortedFields returns fields in the order of their index, each named by
// its index in hexadecimal.
func sortedFields(fields map[uint64]uint64) []FieldBits {
	indexes := make([]uint64, 0, len(fields))
	for field := range fields {
		indexes = append(indexes, field)
	}
	slices.Sort(indexes)
	out := make([]FieldBits, len(indexes))
	for i, field := range indexes {
		out[i] = FieldBits{Field: strconv.FormatUint(field, 16), Bits: fields[field]}
	}
	return out
}

// Report returns figures about the batcher for introspection: pings
// taken, flushes that wrote, documents written, failed flushes, documents
// dropped as too old, and documents with pings not yet taken by a flush.
func (pb *PingBatcher) Report() map[string]interface{} {
	var pings int64
	waiting := make(map[bucketKey]bool)
	for i := range pb.shards {
		shard := &pb.shards[i]
		shard.mu.Lock()
		pings += shard.pingCount
		for k := range shard.pending {
			waiting[k] = true
		}
		shard.mu.Unlock()
	}
	r := map[string]interface{}{
		"pings":             pings,
		"flushes":           pb.stats.flushes.Load(),
		"documents-written": pb.stats.writes.Load(),
		"flush-failures":    pb.stats.failures.Load(),
		"documents-dropped": pb.stats.dropped.Load(),
		"documents-pending": len(waiting),
		"state":             "running",
	}
	if pb.closed.Load() {
		r["state"] = "stopped"
		if err := pb.tomb.Err(); err != nil && err != tomb.ErrStillAlive {
			r["error"] = err.Error()
		}
	}
	return r
}

// Kill asks the batcher to stop; it writes what it holds before it does.
// Pings are refused from then on.
func (pb *PingBatcher) Kill() {
	pb.tomb.Kill(nil)
}

// Wait returns when the batcher has stopped, with the first error it met.
func (pb *PingBatcher) Wait() error {
	return pb.tomb.Wait()
}

// Stop stops the batcher, after a last flush, and returns its error: the
// final flush's, when that failed and the pings it held are lost.
func (pb *PingBatcher) Stop() error {
	pb.tomb.Kill(nil)
	return pb.tomb.Wait()
}
