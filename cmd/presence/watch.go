package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/juju/mgo/v2/bson"
	"github.com/juju/names/v4"

	"github.com/presence-go/presence"
)

const watchSummary = `Streams the liveness changes of every key of a model, one line each, until
interrupted (Ctrl-C or SIGTERM). It starts with the current state of every key
found in BASE.beings, and looks for new keys once a period. It only reads; the
watcher it runs does not prune.`

// event is one line of watch's output; --json prints it as is.
type event struct {
	Time  time.Time `json:"time"`
	Key   string    `json:"key"`
	Alive bool      `json:"alive"`
}

func runWatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("watch", watchSummary, stderr)
	var conn connFlags
	conn.register(fs)
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	st, err := conn.open()
	if err != nil {
		return err
	}
	defer st.Close()

	w := presence.NewWatcherWithOptions(st.base, names.NewModelTag(st.model),
		presence.WithPeriod(st.period), presence.WithPruning(false))
	defer w.Stop()
	changes := make(chan presence.Change, 1024)
	keys := newKeyFinder(st)
	watchNew := func() error {
		found, err := keys.next()
		for _, key := range found {
			w.Watch(key, changes)
		}
		return err
	}
	if err := watchNew(); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "watching model %s (%d keys); Ctrl-C to stop\n", st.model, len(keys.known))

	enc := json.NewEncoder(stdout)
	poll := time.NewTicker(st.period)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return w.Stop()
		case <-w.Dead():
			return fmt.Errorf("watcher stopped: %v", w.Err())
		case <-poll.C:
			if err := watchNew(); err != nil {
				return err
			}
		case c := <-changes:
			e := event{Time: time.Now().UTC(), Key: c.Key, Alive: c.Alive}
			if *asJSON {
				if err := enc.Encode(e); err != nil {
					return err
				}
				continue
			}
			state := "dead"
			if e.Alive {
				state = "alive"
			}
			if _, err := fmt.Fprintf(stdout, "%s %s %s\n", e.Time.Format("15:04:05.000"), e.Key, state); err != nil {
				return err
			}
		}
	}
}

// keyFinder finds the keys of a model that appeared in its beings since
// the last look.
type keyFinder struct {
	st      *store
	known   map[string]bool
	lastSeq int64
}

func newKeyFinder(st *store) *keyFinder {
	return &keyFinder{st: st, known: map[string]bool{}, lastSeq: -1}
}

// next returns the keys not seen before.
func (f *keyFinder) next() ([]string, error) {
	query := append(modelIDs(f.st.model), bson.DocElem{Name: "seq", Value: bson.M{"$gt": f.lastSeq}})
	var docs []beingDoc
	if err := f.st.beings.Find(query).All(&docs); err != nil {
		return nil, fmt.Errorf("cannot read %s: %v", f.st.beings.FullName, err)
	}
	var found []string
	for _, doc := range docs {
		f.lastSeq = max(f.lastSeq, doc.Seq)
		if !f.known[doc.Key] {
			f.known[doc.Key] = true
			found = append(found, doc.Key)
		}
	}
	return found, nil
}
