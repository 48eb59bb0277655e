package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/presence-go/presence/liveness"
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
	tgt, err := conn.open(ctx)
	if err != nil {
		return err
	}
	defer tgt.Close()

	w := liveness.NewWatcher(tgt.store, tgt.model, append(tgt.options(), liveness.WithPruning(false))...)
	defer w.Stop()
	changes := make(chan liveness.Change, 1024)
	known := map[string]bool{}
	watchNew := func() error {
		opCtx, cancel := tgt.opContext(ctx)
		defer cancel()
		keys, err := modelKeys(opCtx, tgt.store, tgt.model)
		if err != nil {
			return err
		}
		for _, key := range sortedKeys(keys) {
			if !known[key] {
				known[key] = true
				w.Watch(key, changes)
			}
		}
		return nil
	}
	if err := watchNew(); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "watching model %s (%d keys); Ctrl-C to stop\n", tgt.model, len(known))

	enc := json.NewEncoder(stdout)
	poll := time.NewTicker(tgt.period)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return w.Stop()
		case <-w.Dead():
			return fmt.Errorf("watcher stopped: %s", oneLine(w.Err()))
		case <-poll.C:
			if err := watchNew(); err != nil {
				if ctx.Err() != nil {
					return w.Stop()
				}
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
