package liveness

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/juju/errors"

	"github.com/presence-go/presence/internal/layout"
)

// Change holds a liveness change notification.
type Change struct {
	Key   string
	Alive bool
}

// PingRecorder records that the sequence encoded by (fieldKey, fieldBit) is
// alive in a slot of a model. A PingBatcher is one; a Pinger sends its
// pings to one.
type PingRecorder interface {
	Ping(modelUUID string, slot int64, fieldKey string, fieldBit uint64) error
}

// MaxKeyLength is the longest key, in bytes, a Pinger accepts. Keys name
// agents; a longer one is surely a mistake, and every being document
// carries its key. A Watcher answers about any key, as Juju's did: one no
// Pinger accepts is never alive.
const MaxKeyLength = 4096

// checkModelID refuses a model id that cannot head the _ids of its
// documents: an empty one, and one holding the ':' separator. Every face
// needs this much; a PingBatcher, shared by the pingers of both faces,
// asks no more of the ids its pingers hand it.
func checkModelID(modelUUID string) error {
	if problem := layout.ValidModelUUID(modelUUID); problem != "" {
		return notValidf("%s", problem)
	}
	return nil
}

// ModelUUIDProblem says why this package's workers would refuse modelUUID,
// or returns "" when they take it: they take model UUIDs in canonical
// form (8-4-4-4-12 lower-case hexadecimal digits) alone. A tool can check
// its input with it before it connects. This goes beyond Juju's API.
func ModelUUIDProblem(modelUUID string) string {
	return layout.ValidCanonicalUUID(modelUUID)
}

// checkModel refuses a model id the face does not take: this package's
// takes model UUIDs in canonical form alone; Juju's takes any id Juju
// took, such as "test-uuid".
func (f face) checkModel(modelUUID string) error {
	problem := layout.ValidCanonicalUUID(modelUUID)
	if f == jujuFace {
		problem = layout.ValidModelUUID(modelUUID)
	}
	if problem != "" {
		return notValidf("%s", problem)
	}
	return nil
}

// checkKey rejects keys that cannot name an agent: empty ones, overlong
// ones, and ones that are not valid UTF-8 or hold a NUL byte (BSON strings
// must be UTF-8, and NUL ends a C string in many tools). '.' and '$' are
// fine: keys are stored as values, never as field names.
func checkKey(key string) error {
	switch {
	case key == "":
		return notValidf("empty key")
	case len(key) > MaxKeyLength:
		return notValidf("key of %d bytes is longer than %d", len(key), MaxKeyLength)
	case !utf8.ValidString(key):
		return notValidf("key %q is not valid UTF-8", key)
	case strings.IndexByte(key, 0) >= 0:
		return notValidf("key %q contains a NUL byte", key)
	}
	return nil
}

// checkStore reports a nil store, which would otherwise panic later, and
// one that stands for a store that could not be made.
func checkStore(store Store) error {
	switch s := store.(type) {
	case nil:
		return notValidf("nil store")
	case brokenStore:
		return s.err
	}
	return nil
}

// checkWorker reports why a worker of modelUUID in store could never run,
// the model id first.
func (f face) checkWorker(store Store, modelUUID string) error {
	if err := f.checkModel(modelUUID); err != nil {
		return err
	}
	return checkStore(store)
}

// BrokenStore returns a Store that stands for one that could not be made,
// because err: workers given it report err as a mistake in their
// arguments, as they do for a bad model UUID or key, with the "presence: "
// prefix once and errors.Is(e, errors.NotValid) holding, and err in the
// chain. It lets a face whose constructors cannot return an error (the
// Juju-compatible ones take a driver's collection) report a bad
// collection the way Juju's did.
func BrokenStore(err error) Store {
	if err == nil {
		return brokenStore{notValidf("the store could not be made")}
	}
	return brokenStore{errors.WithType(&presenceError{cause: err}, errors.NotValid)}
}

// brokenStore fails every operation with its error.
type brokenStore struct{ err error }

func (b brokenStore) Names() Names                                             { return Names{} }
func (b brokenStore) ServerTime(context.Context) (time.Time, error)            { return time.Time{}, b.err }
func (b brokenStore) NextSeq(context.Context, string) (int64, error)           { return 0, b.err }
func (b brokenStore) InsertBeing(context.Context, string, int64, string) error { return b.err }
func (b brokenStore) WriteSlots(context.Context, []SlotWrite) error            { return b.err }
func (b brokenStore) ReadSlots(context.Context, string, []int64) ([][]byte, error) {
	return nil, b.err
}
func (b brokenStore) SlotsFrom(context.Context, string, int64) ([][]byte, error)    { return nil, b.err }
func (b brokenStore) BeingsOf(context.Context, string, []int64, func([]byte)) error { return b.err }
func (b brokenStore) AllBeings(context.Context, string, func([]byte)) error         { return b.err }
func (b brokenStore) CountOldSlots(context.Context, string, int64) (int, error)     { return 0, b.err }
func (b brokenStore) RemoveOldSlots(context.Context, string, int64) (int, error)    { return 0, b.err }
func (b brokenStore) RemoveBeings(context.Context, string, []int64) (int, error)    { return 0, b.err }
func (b brokenStore) RemoveModel(context.Context, string) error                     { return b.err }

func (b brokenStore) ReadSlotsOfModels(context.Context, []string, []int64) ([][]byte, error) {
	return nil, b.err
}

func (b brokenStore) BeingsOfModels(context.Context, []ModelSeqs, func([]byte)) error {
	return b.err
}
