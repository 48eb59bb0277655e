package presence

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/juju/errors"
	"github.com/juju/mgo/v2"
	"github.com/juju/mgo/v2/bson"
	"github.com/juju/names/v4"
	"gopkg.in/tomb.v2"

	"github.com/presence-go/presence/internal/bitfield"
	"github.com/presence-go/presence/internal/livestate"
	"github.com/presence-go/presence/internal/slot"
)

// A Watcher can watch any number of pinger keys for liveness changes.
//
// It reads the two live slot documents of its model every period (or when
// asked), works out which keys are alive, and sends a Change to every
// channel watching a key whose liveness changed. One goroutine owns all its
// state; the methods only send it requests.
type Watcher struct {
	base      *mgo.Collection
	cols      collections
	modelUUID string
	cfg       config
	tomb      tomb.Tomb

	// request carries Watch, Unwatch, Alive and Sync requests to the loop.
	request chan interface{}
	// syncNow carries StartSync's nudges; one pending nudge is enough.
	syncNow chan struct{}

	// The fields below belong to the loop goroutine.
	delta        time.Duration
	skewMeasured bool
	pruner       *Pruner            // kept across prunes; one prune runs at a time
	pruning      bool               // a prune runs in its own goroutine
	pruneSince   int                // periods since the last prune started
	pruneDone    chan error         // the prune goroutine's result
	outage       outage             // failed syncs in a row
	window       livestate.Window   // the live slots' bits at the last sync
	tracker      *livestate.Tracker // seq ⇄ key, and liveness per key
	unresolved   map[int64]bool     // seqs in the window whose being is not found yet (value: logged)
	watches      map[string][]chan<- Change
	pending      []event         // changes not yet delivered, in order
	waiters      []chan struct{} // Sync calls waiting for pending to empty
	corrupt      map[string]bool // ids of corrupt documents already logged
	stats        watcherStats
}

// watcherStats are the loop's figures for Report.
type watcherStats struct {
	syncs, events, prunes, pruneFailures int64
	lastSync                             time.Time
	lastSyncDuration                     time.Duration
}

// event is one Change on its way to one channel.
type event struct {
	ch     chan<- Change
	change Change
}

type reqWatch struct {
	key string
	ch  chan<- Change
}

type reqUnwatch struct {
	key string
	ch  chan<- Change
}

type reqAlive struct {
	key    string
	result chan bool
}

type reqSync struct {
	done chan struct{}
}

type reqReport struct {
	result chan map[string]interface{}
}

// NewWatcher returns a new Watcher. A watcher given an unusable base or
// model tag is returned dead, with the reason as its error.
func NewWatcher(base *mgo.Collection, modelTag names.ModelTag) *Watcher {
	return NewWatcherWithOptions(base, modelTag)
}

// NewWatcherWithOptions is NewWatcher with options (slot period, clock,
// logger, pruning).
func NewWatcherWithOptions(base *mgo.Collection, modelTag names.ModelTag, opts ...Option) *Watcher {
	modelUUID, err := modelUUIDOf(modelTag)
	if err == nil {
		err = checkBase(base)
	}
	if err != nil {
		w := NewDeadWatcher(err)
		w.modelUUID = modelUUID
		return w
	}
	w := &Watcher{
		base:       base,
		cols:       collectionsOf(base),
		modelUUID:  modelUUID,
		cfg:        newConfig(opts),
		request:    make(chan interface{}),
		syncNow:    make(chan struct{}, 1),
		window:     livestate.Window{},
		tracker:    livestate.NewTracker(),
		unresolved: make(map[int64]bool),
		pruneDone:  make(chan error),
		watches:    make(map[string][]chan<- Change),
		corrupt:    make(map[string]bool),
	}
	w.tomb.Go(w.loop)
	return w
}

// NewDeadWatcher returns a new watcher that is already dead and always
// returns the given error from its Err method.
func NewDeadWatcher(err error) *Watcher {
	w := &Watcher{}
	w.tomb.Kill(err)
	w.tomb.Go(func() error { return err })
	return w
}

// String names the watcher and its model.
func (w *Watcher) String() string {
	return fmt.Sprintf("presence.Watcher(%s)", w.modelUUID)
}

// Kill asks the watcher to stop and returns at once.
func (w *Watcher) Kill() {
	w.tomb.Kill(nil)
}

// Wait returns when the watcher has stopped, with its error.
func (w *Watcher) Wait() error {
	return w.tomb.Wait()
}

// Stop stops all the watcher activities and returns its error.
func (w *Watcher) Stop() error {
	w.tomb.Kill(nil)
	return w.tomb.Wait()
}

// Dead returns a channel that is closed when the watcher has stopped.
func (w *Watcher) Dead() <-chan struct{} {
	return w.tomb.Dead()
}

// Err returns the error with which the watcher stopped. It returns nil if
// the watcher stopped cleanly, tomb.ErrStillAlive if the watcher is still
// running properly, or the respective error if the watcher is terminating
// or has terminated with an error.
func (w *Watcher) Err() error {
	return w.tomb.Err()
}

// send hands a request to the loop; it reports false once the watcher is
// dying, when nobody will answer.
func (w *Watcher) send(req interface{}) bool {
	select {
	case w.request <- req:
		return true
	case <-w.tomb.Dying():
		return false
	}
}

// Watch starts watching the liveness of key. An event will be sent onto ch
// to report the initial status for the key, and from then on a new event
// will be sent whenever a change is detected. Change values sent to the
// channel must be consumed, or the whole watcher will block.
//
// Watching the same key on the same channel twice registers it once but
// sends the initial status again. A nil channel, and any call once the
// watcher is stopped, are ignored.
func (w *Watcher) Watch(key string, ch chan<- Change) {
	if ch == nil {
		return
	}
	w.send(reqWatch{key, ch})
}

// Unwatch stops watching the liveness of key via ch, and drops the events
// for that key still queued for ch. Unwatching what was never watched, or
// calling it once the watcher is stopped, does nothing.
func (w *Watcher) Unwatch(key string, ch chan<- Change) {
	if ch == nil {
		return
	}
	w.send(reqUnwatch{key, ch})
}

// StartSync forces the watcher to load new events from the database. It
// does not wait for them.
func (w *Watcher) StartSync() {
	select {
	case w.syncNow <- struct{}{}:
	default:
	}
}

// Sync forces the watcher to load new events from the database and blocks
// until all events have been dispatched. On a stopped watcher it returns at
// once.
func (w *Watcher) Sync() {
	done := make(chan struct{})
	if !w.send(reqSync{done}) {
		return
	}
	select {
	case <-done:
	case <-w.tomb.Dying():
	}
}

// Report returns figures about the watcher for introspection, in the
// style of Juju's worker reports: keys watched and alive, syncs, failures,
// corrupt documents met, prunes, and the time and duration of the last sync.
// A stopped watcher reports only its model and error.
func (w *Watcher) Report() map[string]interface{} {
	result := make(chan map[string]interface{}, 1)
	if w.send(reqReport{result}) {
		select {
		case r := <-result:
			return r
		case <-w.tomb.Dying():
		}
	}
	r := map[string]interface{}{"model": w.modelUUID, "state": "stopped"}
	if err := w.tomb.Err(); err != nil && err != tomb.ErrStillAlive {
		r["error"] = err.Error()
	}
	return r
}

func (w *Watcher) report() map[string]interface{} {
	return map[string]interface{}{
		"model":              w.modelUUID,
		"state":              "running",
		"keys-watched":       len(w.watches),
		"keys-alive":         w.tracker.LiveCount(),
		"seqs-known":         w.tracker.SeqCount(),
		"seqs-unresolved":    len(w.unresolved),
		"events-pending":     len(w.pending),
		"events":             w.stats.events,
		"syncs":              w.stats.syncs,
		"sync-failures":      w.outage.total,
		"corrupt-documents":  len(w.corrupt),
		"prunes":             w.stats.prunes,
		"prune-failures":     w.stats.pruneFailures,
		"last-sync":          w.stats.lastSync,
		"last-sync-duration": w.stats.lastSyncDuration,
	}
}

// Alive returns whether the key is currently considered alive by w, or an
// error in case the watcher is dying.
func (w *Watcher) Alive(key string) (bool, error) {
	result := make(chan bool, 1)
	if w.send(reqAlive{key, result}) {
		select {
		case alive := <-result:
			return alive, nil
		case <-w.tomb.Dying():
		}
	}
	return false, errors.Errorf("presence: cannot check liveness of %q: %s is dying", key, w)
}

func (w *Watcher) loop() error {
	if err := w.trySync(); err != nil {
		return err
	}
	tick := w.cfg.clock.NewTimer(w.cfg.period)
	defer tick.Stop()
	for {
		var out chan<- Change
		var next Change
		if len(w.pending) > 0 {
			out, next = w.pending[0].ch, w.pending[0].change
		}
		select {
		case <-w.tomb.Dying():
			return tomb.ErrDying
		case <-tick.Chan():
			if err := w.trySync(); err != nil {
				return err
			}
			w.maybePrune()
			tick.Reset(w.cfg.period)
		case err := <-w.pruneDone:
			w.pruning = false
			w.stats.prunes++
			if err != nil {
				w.stats.pruneFailures++
				w.cfg.logger.Warn("presence: pruning failed; the next prune will retry", "model", w.modelUUID, "err", err)
			}
		case <-w.syncNow:
			if err := w.trySync(); err != nil {
				return err
			}
		case req := <-w.request:
			if err := w.handle(req); err != nil {
				return err
			}
		case out <- next:
			w.pending[0] = event{}
			w.pending = w.pending[1:]
		}
		w.releaseWaiters()
	}
}

// trySync syncs, measuring the clock skew first if that is still to do. A
// failure is logged and left for the next sync to retry; it is returned,
// ending the watcher, only once failures have lasted longer than the
// outage tolerance.
func (w *Watcher) trySync() error {
	began := time.Now()
	err := w.measureSkewOnce()
	if err == nil {
		err = w.sync()
	}
	if err == nil {
		w.outage.ended()
		w.stats.syncs++
		w.stats.lastSync = w.cfg.clock.Now()
		w.stats.lastSyncDuration = time.Since(began)
		return nil
	}
	return w.outage.failed(w.cfg, err, "model", w.modelUUID)
}

func (w *Watcher) measureSkewOnce() error {
	if !w.cfg.measureSkew || w.skewMeasured {
		return nil
	}
	if err := w.measureSkew(); err != nil {
		return err
	}
	w.skewMeasured = true
	return nil
}

// maybePrune starts a prune of the model now and then, in a goroutine of
// the watcher's, with the sequences the watcher knows as the memory cache.
// Its outcome arrives on pruneDone; an error is only logged, since a prune
// that failed changes nothing a later one cannot do.
func (w *Watcher) maybePrune() {
	if !w.cfg.pruning || w.pruning {
		return
	}
	w.pruneSince++
	if !pruneDue(w.pruneSince, rand.Float64()) {
		return
	}
	w.pruneSince = 0
	w.pruning = true
	memCache := make(map[int64]string, w.tracker.SeqCount())
	w.tracker.EachSeq(func(seq int64, key string) { memCache[seq] = key })
	if w.pruner == nil {
		w.pruner = newPruner(w.modelUUID, w.cols.beings, w.cols.pings, w.delta, w.cfg)
	}
	pruner := w.pruner
	w.tomb.Go(func() error {
		err := pruner.Prune(memCache)
		select {
		case w.pruneDone <- err:
		case <-w.tomb.Dying():
		}
		return nil
	})
}

func (w *Watcher) measureSkew() error {
	session := w.base.Database.Session.Copy()
	defer session.Close()
	delta, err := clockDelta(session, w.cfg.clock.Now)
	if err != nil {
		return errors.Annotatef(err, "presence: watcher of model %q", w.modelUUID)
	}
	w.delta = delta
	return nil
}

func (w *Watcher) handle(req interface{}) error {
	switch req := req.(type) {
	case reqWatch:
		if !w.watching(req.key, req.ch) {
			w.watches[req.key] = append(w.watches[req.key], req.ch)
		}
		w.pending = append(w.pending, event{req.ch, Change{req.key, w.tracker.Alive(req.key)}})
	case reqUnwatch:
		w.unwatch(req.key, req.ch)
	case reqAlive:
		req.result <- w.tracker.Alive(req.key)
	case reqReport:
		req.result <- w.report()
	case reqSync:
		if err := w.trySync(); err != nil {
			close(req.done)
			return err
		}
		w.waiters = append(w.waiters, req.done)
	}
	return nil
}

func (w *Watcher) watching(key string, ch chan<- Change) bool {
	for _, c := range w.watches[key] {
		if c == ch {
			return true
		}
	}
	return false
}

func (w *Watcher) unwatch(key string, ch chan<- Change) {
	chans := w.watches[key]
	for i, c := range chans {
		if c == ch {
			chans = append(chans[:i], chans[i+1:]...)
			break
		}
	}
	if len(chans) == 0 {
		delete(w.watches, key)
	} else {
		w.watches[key] = chans
	}
	kept := w.pending[:0]
	for _, e := range w.pending {
		if e.ch != ch || e.change.Key != key {
			kept = append(kept, e)
		}
	}
	for i := len(kept); i < len(w.pending); i++ {
		w.pending[i] = event{}
	}
	w.pending = kept
}

// releaseWaiters ends the Sync calls once every event is delivered.
func (w *Watcher) releaseWaiters() {
	if len(w.pending) > 0 || len(w.waiters) == 0 {
		return
	}
	for _, done := range w.waiters {
		close(done)
	}
	w.waiters = w.waiters[:0]
}

// pingDoc is a slot document as read; fields are checked by hand because
// they may have been written by anyone.
type pingDoc struct {
	ID    interface{} `bson:"_id"`
	Alive bson.Raw    `bson:"alive"`
	Dead  bson.Raw    `bson:"dead"`
}

// sync reads the live slots, works out what changed since the last sync and
// queues the resulting events.
func (w *Watcher) sync() error {
	session := w.base.Database.Session.Copy()
	defer session.Close()

	periodSeconds := slot.Seconds(w.cfg.period)
	previous, current := slot.Live(slot.At(w.cfg.clock.Now(), w.delta, w.cfg.period), periodSeconds)
	var docs []pingDoc
	ids := []string{docID(w.modelUUID, previous), docID(w.modelUUID, current)}
	pings := on(session, w.cols.pings)
	if err := pings.Find(bson.D{{Name: "_id", Value: bson.D{{Name: "$in", Value: ids}}}}).All(&docs); err != nil {
		return errors.Annotatef(err, "presence: cannot read slots %d and %d of model %q from %s", previous, current, w.modelUUID, pings.FullName)
	}
	window := livestate.Window{}
	for i := range docs {
		w.addSlot(window, &docs[i])
	}

	// Apply the changes whose key is known; the rest need a lookup.
	livestate.Changed(w.window, window, func(seq int64, st livestate.State) {
		if key, ok := w.tracker.KeyOf(seq); ok {
			w.setState(seq, key, st)
			return
		}
		if st == livestate.Unseen {
			delete(w.unresolved, seq)
			return
		}
		if _, ok := w.unresolved[seq]; !ok {
			w.unresolved[seq] = false
		}
	})
	w.window = window
	if len(w.unresolved) == 0 {
		return nil
	}
	return w.resolve(on(session, w.cols.beings))
}

func (w *Watcher) setState(seq int64, key string, st livestate.State) {
	alive, changed := w.tracker.Set(seq, key, st)
	if !changed {
		return
	}
	for _, ch := range w.watches[key] {
		w.pending = append(w.pending, event{ch, Change{key, alive}})
		w.stats.events++
	}
}

// addSlot ORs one slot document into window, skipping what is corrupt.
func (w *Watcher) addSlot(window livestate.Window, doc *pingDoc) {
	alive, dead, problems := decodePingDoc(doc)
	window.Add(alive, dead)
	if len(problems) > 0 {
		w.reportCorrupt(w.cols.pings, doc.ID, problems)
	}
}

// decodePingDoc reads the alive and dead bits of a slot document written by
// anyone. What cannot be read is described in problems and left out; the
// rest is returned. Well-formed documents, the usual case, take the fast
// path of walking their raw bytes.
func decodePingDoc(doc *pingDoc) (alive, dead map[int64]uint64, problems []string) {
	alive = make(map[int64]uint64)
	dead = make(map[int64]uint64)
	if walkFields(doc.Alive, alive) && walkFields(doc.Dead, dead) {
		return alive, dead, nil
	}
	clear(alive)
	clear(dead)
	for _, part := range []struct {
		name string
		raw  bson.Raw
		dst  map[int64]uint64
	}{{"alive", doc.Alive, alive}, {"dead", doc.Dead, dead}} {
		fields, err := rawFields(part.raw)
		if err != nil {
			problems = append(problems, part.name+": "+err.Error())
			continue
		}
		bitfield.Decode(fields, part.dst, func(fieldKey string, err error) {
			problems = append(problems, part.name+"."+err.Error())
		})
	}
	return alive, dead, problems
}

// walkFields is the fast decoder of the alive or dead part of a slot
// document: it walks the raw BSON elements and ORs each integer field into
// dst, which must start empty, under its index, with no map of interface
// values and no string per field name. It reports false at the first thing
// it cannot read, leaving dst partly filled; the caller then starts again
// on the careful path, which says what is wrong.
func walkFields(raw bson.Raw, dst map[int64]uint64) bool {
	if raw.Kind == 0 || raw.Kind == 0x0A {
		return true
	}
	data := raw.Data
	if raw.Kind != 0x03 || len(data) < 5 {
		return false
	}
	data = data[4 : len(data)-1] // the length prefix and the trailing NUL
	for len(data) > 0 {
		kind := data[0]
		data = data[1:]
		end := 0
		for end < len(data) && data[end] != 0 {
			end++
		}
		if end == len(data) || end == 0 || end > 16 {
			return false
		}
		var index int64
		for _, c := range data[:end] {
			switch {
			case '0' <= c && c <= '9':
				index = index<<4 | int64(c-'0')
			case 'a' <= c && c <= 'f':
				index = index<<4 | int64(c-'a'+10)
			case 'A' <= c && c <= 'F':
				index = index<<4 | int64(c-'A'+10)
			default:
				return false
			}
		}
		if index < 0 || index > (1<<63-1-(bitfield.BitsPerField-1))/bitfield.BitsPerField {
			return false
		}
		data = data[end+1:]
		var word int64
		switch kind {
		case 0x10: // int32
			if len(data) < 4 {
				return false
			}
			word = int64(int32(uint32(data[0]) | uint32(data[1])<<8 | uint32(data[2])<<16 | uint32(data[3])<<24))
			data = data[4:]
		case 0x12: // int64
			if len(data) < 8 {
				return false
			}
			var u uint64
			for i := 7; i >= 0; i-- {
				u = u<<8 | uint64(data[i])
			}
			word = int64(u)
			data = data[8:]
		default:
			return false
		}
		if _, dup := dst[index]; dup || word < 0 {
			// A repeated name is left to the careful decoder, which keeps
			// the last value as every BSON reader does.
			return false
		}
		dst[index] = uint64(word)
	}
	return true
}

// rawFields decodes a sub-document; an absent one is empty.
func rawFields(raw bson.Raw) (map[string]interface{}, error) {
	if raw.Kind == 0 || raw.Kind == 0x0A { // absent or null
		return nil, nil
	}
	if raw.Kind != 0x03 {
		return nil, errors.Errorf("not a document (BSON kind %#x)", raw.Kind)
	}
	var fields bson.M
	if err := raw.Unmarshal(&fields); err != nil {
		return nil, err
	}
	return fields, nil
}

func (w *Watcher) reportCorrupt(c *mgo.Collection, id interface{}, problems []string) {
	name := c.FullName + " " + describeID(id)
	if w.corrupt[name] {
		return
	}
	w.corrupt[name] = true
	w.cfg.logger.Warn("presence: skipping corrupt parts of a document", "model", w.modelUUID, "document", name, "problems", problems)
}

// resolve looks up the beings of unresolved sequences: by id, in batches,
// or, when there are more than one batch's worth (a watcher starting on a
// large model), by reading the model's beings in one range of ids, which
// the _id index serves in a single pass.
func (w *Watcher) resolve(beings *mgo.Collection) error {
	if len(w.unresolved) > lookupBatch {
		if err := w.resolveModel(beings); err != nil {
			return err
		}
	} else if err := w.resolveByID(beings); err != nil {
		return err
	}
	w.logUnresolved(beings)
	return nil
}

func (w *Watcher) resolveByID(beings *mgo.Collection) error {
	seqs := make([]int64, 0, len(w.unresolved))
	for seq := range w.unresolved {
		seqs = append(seqs, seq)
	}
	ids := make([]string, len(seqs))
	for i, seq := range seqs {
		ids[i] = docID(w.modelUUID, seq)
	}
	var docs []bson.M
	query := bson.D{{Name: "_id", Value: bson.D{{Name: "$in", Value: ids}}}}
	if err := beings.Find(query).Select(beingFields).All(&docs); err != nil {
		return errors.Annotatef(err, "presence: cannot look up %d beings of model %q in %s", len(ids), w.modelUUID, beings.FullName)
	}
	for _, doc := range docs {
		w.resolveDoc(beings, doc)
	}
	return nil
}

// resolveModel reads every being of the model, "<uuid>:" up to but not
// including "<uuid>;" (';' follows ':'), keeping the unresolved ones.
func (w *Watcher) resolveModel(beings *mgo.Collection) error {
	query := bson.D{{Name: "_id", Value: bson.D{
		{Name: "$gte", Value: w.modelUUID + ":"},
		{Name: "$lt", Value: w.modelUUID + ";"},
	}}}
	iter := beings.Find(query).Select(beingFields).Batch(lookupBatch).Iter()
	var doc bson.M
	for iter.Next(&doc) {
		w.resolveDoc(beings, doc)
		doc = nil
	}
	if err := iter.Close(); err != nil {
		return errors.Annotatef(err, "presence: cannot read the beings of model %q in %s", w.modelUUID, beings.FullName)
	}
	return nil
}

// resolveDoc applies one being document, if it is sound and wanted.
func (w *Watcher) resolveDoc(beings *mgo.Collection, doc bson.M) {
	seq, key, err := decodeBeing(doc)
	if err == nil && doc["_id"] != docID(w.modelUUID, seq) {
		err = errors.New("seq does not match _id")
	}
	if err != nil {
		w.reportCorrupt(beings, doc["_id"], []string{err.Error()})
		return
	}
	if _, ok := w.unresolved[seq]; !ok {
		return
	}
	delete(w.unresolved, seq)
	w.setState(seq, key, w.window.StateOf(seq))
}

// logUnresolved says once of each live sequence that it has no being.
func (w *Watcher) logUnresolved(beings *mgo.Collection) {
	for seq, logged := range w.unresolved {
		if !logged {
			w.unresolved[seq] = true
			w.cfg.logger.Warn("presence: a live sequence has no being; it is ignored until one appears",
				"model", w.modelUUID, "seq", seq, "collection", beings.FullName)
		}
	}
}

// decodeBeing checks a being document written by anyone.
func decodeBeing(doc bson.M) (int64, string, error) {
	var seq int64
	switch v := doc["seq"].(type) {
	case int64:
		seq = v
	case int:
		seq = int64(v)
	default:
		return 0, "", errors.Errorf("seq is %T, not an integer", doc["seq"])
	}
	key, ok := doc["key"].(string)
	if !ok {
		return 0, "", errors.Errorf("key is %T, not a string", doc["key"])
	}
	return seq, key, nil
}
