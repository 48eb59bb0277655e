package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/presence-go/presence/cmd/internal/cli"
	"github.com/presence-go/presence/internal/slot"
	"github.com/presence-go/presence/liveness"
)

const statusSummary = `Lists the keys of a model that are alive now, each with the sequence that
keeps it alive (its newest in the live slots) and the last slot that
sequence pinged. It only reads: it asks the library's watcher (which does
not prune) for the model's keys, so the result is what any watcher of the
model sees. Slots follow the server's clock.`

// aliveKey is one key alive now, as status prints it.
type aliveKey struct {
	Key      string `json:"key"`
	Seq      int64  `json:"seq"`
	LastSlot int64  `json:"last_slot"`
}

// statusResult is what status prints; --json prints it as is.
type statusResult struct {
	Model         string     `json:"model"`
	ServerTime    time.Time  `json:"server_time"`
	PeriodSeconds int64      `json:"period_seconds"`
	Slot          int64      `json:"slot"`
	Alive         []aliveKey `json:"alive"`
	// Key and KeyAlive answer --key.
	Key      string `json:"key,omitempty"`
	KeyAlive *bool  `json:"key_alive,omitempty"`
}

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("status", statusSummary, stderr)
	var conn connFlags
	conn.register(fs)
	key := fs.String("key", "", "show only this key, and whether it is alive")
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	if err := cli.ParseFlags(fs, args, stdout); err != nil {
		return err
	}
	tgt, err := conn.open(ctx)
	if err != nil {
		return err
	}
	defer tgt.Close()
	result, err := tgt.status(ctx, *key)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(result)
	}
	printStatus(stdout, result)
	return nil
}

// status asks a watcher of the model for its keys (only key, if given)
// and keeps the alive ones, each with the sequence that keeps it alive and
// the last slot that sequence pinged.
func (t *target) status(ctx context.Context, key string) (*statusResult, error) {
	opCtx, cancel := t.opContext(ctx)
	now, err := t.store.ServerTime(opCtx)
	cancel()
	if err != nil {
		return nil, err
	}
	periodSeconds := slot.Seconds(t.period)
	states, err := t.keyStates(ctx)
	if err != nil {
		return nil, err
	}
	result := &statusResult{
		Model:         t.model,
		ServerTime:    now.UTC(),
		PeriodSeconds: periodSeconds,
		Slot:          slot.Of(now.Unix(), periodSeconds),
		Alive:         []aliveKey{},
	}
	for _, s := range states {
		if s.Alive && (key == "" || s.Key == key) {
			result.Alive = append(result.Alive, aliveKey{Key: s.Key, Seq: s.Seq, LastSlot: s.LastSlot})
		}
	}
	if key != "" {
		isAlive := len(result.Alive) > 0
		result.Key, result.KeyAlive = key, &isAlive
	}
	return result, nil
}

// keyStates returns what a watcher of the model finds of its keys, sorted.
// The watcher reads the live slots once, on the server's clock; if it has
// not answered within --timeout, the error says so. A watcher that stopped
// by itself (a store that could not be made) returns its own error.
func (t *target) keyStates(ctx context.Context) ([]liveness.KeyState, error) {
	w := liveness.NewWatcher(t.store, t.model, append(t.options(), liveness.WithPruning(false))...)
	defer w.Stop()
	ctx, cancel := t.opContext(ctx)
	defer cancel()
	states, err := w.KeyStatesContext(ctx)
	if err != nil {
		if werr := w.Stop(); werr != nil {
			return nil, werr
		}
		return nil, err
	}
	return states, nil
}

func printStatus(w io.Writer, r *statusResult) {
	fmt.Fprintf(w, "model %s at %s (slot %d, period %ds): %d alive\n",
		r.Model, r.ServerTime.Format(time.RFC3339), r.Slot, r.PeriodSeconds, len(r.Alive))
	if r.KeyAlive != nil && !*r.KeyAlive {
		fmt.Fprintf(w, "%s is not alive\n", r.Key)
		return
	}
	if len(r.Alive) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tSEQ\tLAST SLOT")
	for _, a := range r.Alive {
		fmt.Fprintf(tw, "%s\t%d\t%d (%s)\n", a.Key, a.Seq, a.LastSlot, time.Unix(a.LastSlot, 0).UTC().Format("15:04:05"))
	}
	tw.Flush()
}
