package presence

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/juju/errors"
	"github.com/juju/mgo/v2"
	"github.com/juju/mgo/v2/bson"
	"github.com/juju/names/v4"
)

// The collections hang off the caller's base collection, as in Juju.
const (
	seqsSuffix   = ".seqs"
	beingsSuffix = ".beings"
	pingsSuffix  = ".pings"
)

// lookupBatch is the most ids asked for in one query or removal.
const lookupBatch = 1000

// collections are the three collections of one base.
type collections struct {
	seqs, beings, pings *mgo.Collection
}

func collectionsOf(base *mgo.Collection) collections {
	db := base.Database
	return collections{
		seqs:   db.C(base.Name + seqsSuffix),
		beings: db.C(base.Name + beingsSuffix),
		pings:  db.C(base.Name + pingsSuffix),
	}
}

// on returns the collection c bound to session s.
func on(s *mgo.Session, c *mgo.Collection) *mgo.Collection {
	return c.With(s)
}

// checkBase reports a nil base collection, which would otherwise panic in
// the driver.
func checkBase(base *mgo.Collection) error {
	if base == nil || base.Database == nil || base.Database.Session == nil {
		return errors.New("presence: nil base collection")
	}
	if base.Name == "" {
		return errors.New("presence: base collection has no name")
	}
	return nil
}

// checkModelUUID accepts any non-empty id without the ':' separator: Juju
// never checked the shape, and its tests use ids such as "test-uuid".
func checkModelUUID(modelUUID string) error {
	switch {
	case modelUUID == "":
		return errors.New("presence: empty model UUID")
	case strings.Contains(modelUUID, ":"):
		return errors.Errorf("presence: model UUID %q contains ':'", modelUUID)
	}
	return nil
}

func modelUUIDOf(modelTag names.ModelTag) (string, error) {
	uuid := modelTag.Id()
	return uuid, checkModelUUID(uuid)
}

// docID is the _id of a model's document named by a number (a sequence or
// a slot): "<uuid>:<n>".
func docID(modelUUID string, n int64) string {
	return modelUUID + ":" + strconv.FormatInt(n, 10)
}

// seqsID is the _id of a model's sequence counter.
func seqsID(modelUUID string) string {
	return modelUUID + ":beings"
}

// beingDoc maps a pinger's sequence back to its key.
type beingDoc struct {
	DocID string `bson:"_id"`
	Seq   int64  `bson:"seq"`
	Key   string `bson:"key"`
}

// beingFields projects a being document onto what readers need.
var beingFields = bson.D{{Name: "seq", Value: 1}, {Name: "key", Value: 1}}

// nextSeq takes a new sequence for the model.
func nextSeq(seqs *mgo.Collection, modelUUID string) (int64, error) {
	var doc struct {
		Seq int64 `bson:"seq"`
	}
	change := mgo.Change{
		Update:    bson.D{{Name: "$inc", Value: bson.D{{Name: "seq", Value: int64(1)}}}},
		Upsert:    true,
		ReturnNew: true,
	}
	if _, err := seqs.FindId(seqsID(modelUUID)).Apply(change, &doc); err != nil {
		return 0, errors.Annotatef(err, "presence: cannot take a sequence for model %q from %s", modelUUID, seqs.FullName)
	}
	return doc.Seq, nil
}

// clockDelta measures how far the database server's clock is ahead of clk.
// The server reports its time to the millisecond; the round trip is split
// in two, which bounds the error by half the round trip.
func clockDelta(s *mgo.Session, now func() time.Time) (time.Duration, error) {
	var result struct {
		LocalTime time.Time `bson:"localTime"`
	}
	before := now()
	if err := s.Run("isMaster", &result); err != nil {
		return 0, errors.Annotate(err, "presence: cannot read the database server's clock")
	}
	after := now()
	if result.LocalTime.IsZero() {
		return 0, errors.New("presence: the database server reported no localTime")
	}
	local := before.Add(after.Sub(before) / 2)
	return result.LocalTime.Sub(local), nil
}

// slotUpdate is the upsert that ORs bits into one slot document, under
// each of parts ("alive", "dead").
func slotUpdate(slotNum int64, fields map[string]uint64, parts ...string) bson.D {
	bits := make(bson.D, 0, len(fields)*len(parts))
	for _, part := range parts {
		for fieldKey, fieldBits := range fields {
			bits = append(bits, bson.DocElem{
				Name:  part + "." + fieldKey,
				Value: bson.D{{Name: "or", Value: int64(fieldBits)}},
			})
		}
	}
	return bson.D{
		{Name: "$set", Value: bson.D{{Name: "slot", Value: slotNum}}},
		{Name: "$bit", Value: bits},
	}
}

// describeID renders a document _id of any type for messages.
func describeID(id interface{}) string {
	if s, ok := id.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%v (%T)", id, id)
}

// MaxKeyLength is the longest key, in bytes, a Pinger or Watcher accepts.
// Keys name agents; a longer one is surely a mistake, and every being
// document carries its key.
const MaxKeyLength = 4096

// checkKey rejects keys that cannot name an agent: empty ones, overlong
// ones, and ones that are not valid UTF-8 or hold a NUL byte (BSON strings
// must be UTF-8, and NUL ends a C string in many tools). '.' and '$' are
// fine: keys are stored as values, never as field names.
func checkKey(key string) error {
	switch {
	case key == "":
		return errors.New("presence: empty key")
	case len(key) > MaxKeyLength:
		return errors.Errorf("presence: key of %d bytes is longer than %d", len(key), MaxKeyLength)
	case !utf8.ValidString(key):
		return errors.Errorf("presence: key %q is not valid UTF-8", key)
	case strings.IndexByte(key, 0) >= 0:
		return errors.Errorf("presence: key %q contains a NUL byte", key)
	}
	return nil
}
