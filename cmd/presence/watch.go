package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/presence-go/presence/cmd/internal/cli"
	"github.com/presence-go/presence/liveness"
)

const watchSummary = `Streams the liveness changes of every key of a model (or of --key alone),
one line each, until interrupted (Ctrl-C or SIGTERM). It starts with the
current state of every key with a sequence in the live slots, and follows keys
that appear later. It only reads; the watcher it runs does not prune.`

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
	key := fs.String("key", "", "follow only this key")
	if err := cli.ParseFlags(fs, args, stdout); err != nil {
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
	if *key != "" {
		w.Watch(*key, changes)
		fmt.Fprintf(stderr, "watching key %q of model %s; Ctrl-C to stop\n", *key, tgt.model)
	} else {
		w.WatchModel(changes)
		fmt.Fprintf(stderr, "watching model %s; Ctrl-C to stop\n", tgt.model)
	}

	enc := json.NewEncoder(stdout)
	for {
		select {
		case <-ctx.Done():
			return w.Stop()
		case <-w.Dead():
			return fmt.Errorf("watcher stopped: %s", cli.OneLine(w.Err()))
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
