package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/presence-go/presence/internal/bitfield"
	"github.com/presence-go/presence/internal/bsonraw"
	"github.com/presence-go/presence/internal/slot"
	"github.com/presence-go/presence/liveness"
)

const statusSummary = `Lists the keys of a model that are alive now, with the sequence their
pinger holds and the last slot it pinged. It only reads: it asks the
library's watcher (which does not prune) for the model's alive keys, so the
result is what any watcher of the model sees. Slots follow the server's
clock.`

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
	if err := parseFlags(fs, args, stdout); err != nil {
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

// status finds the model's keys (only key, if given) and asks a watcher
// which of them are alive. The sequence shown for a key is its newest,
// which is the one that keeps it alive except between a pinger's Start and
// the write of its first ping.
func (t *target) status(ctx context.Context, key string) (*statusResult, error) {
	opCtx, cancel := t.opContext(ctx)
	now, err := t.store.ServerTime(opCtx)
	cancel()
	if err != nil {
		return nil, err
	}
	periodSeconds := slot.Seconds(t.period)
	previous, current := slot.Live(slot.Of(now.Unix(), periodSeconds), periodSeconds)

	alive, err := t.aliveKeys(ctx)
	if err != nil {
		return nil, err
	}
	if key != "" {
		alive = slices.DeleteFunc(alive, func(k string) bool { return k != key })
	}
	opCtx, cancel = t.opContext(ctx)
	seqs, err := modelKeys(opCtx, t.store, t.model)
	cancel()
	if err != nil {
		return nil, err
	}

	result := &statusResult{
		Model:         t.model,
		ServerTime:    now.UTC(),
		PeriodSeconds: periodSeconds,
		Slot:          current,
		Alive:         []aliveKey{},
	}
	aliveSeqs := make([]int64, len(alive))
	for i, k := range alive {
		aliveSeqs[i] = seqs[k]
	}
	opCtx, cancel = t.opContext(ctx)
	pingedNow, err := t.pingedIn(opCtx, current, aliveSeqs)
	cancel()
	if err != nil {
		return nil, err
	}
	for _, k := range alive {
		last := previous
		if pingedNow[seqs[k]] {
			last = current
		}
		result.Alive = append(result.Alive, aliveKey{Key: k, Seq: seqs[k], LastSlot: last})
	}
	if key != "" {
		isAlive := len(result.Alive) > 0
		result.Key, result.KeyAlive = key, &isAlive
	}
	return result, nil
}

// aliveKeys returns the keys a watcher of the model finds alive, sorted.
// The watcher reads the live slots once, on the server's clock; if it has
// not answered within --timeout, the error says so. A watcher that stopped
// by itself (a store that could not be made) returns its own error.
func (t *target) aliveKeys(ctx context.Context) ([]string, error) {
	w := liveness.NewWatcher(t.store, t.model, append(t.options(), liveness.WithPruning(false))...)
	defer w.Stop()
	ctx, cancel := t.opContext(ctx)
	defer cancel()
	alive, err := w.AliveKeysContext(ctx)
	if err != nil {
		if werr := w.Stop(); werr != nil {
			return nil, werr
		}
		return nil, err
	}
	return alive, nil
}

// pingedIn reports which of seqs have their alive bit in the model's
// document of slot. A watcher tells whether a key is alive, not in which
// of the two live slots it last pinged; status shows that too, so it reads
// the current slot's document itself, with the library's bit layout.
func (t *target) pingedIn(ctx context.Context, slot int64, seqs []int64) (map[int64]bool, error) {
	pinged := make(map[int64]bool)
	if len(seqs) == 0 {
		return pinged, nil
	}
	docs, err := t.store.ReadSlots(ctx, t.model, []int64{slot})
	if err != nil {
		return nil, err
	}
	for _, doc := range docs {
		part, found, err := bsonraw.Lookup(doc, "alive")
		if err != nil || !found {
			continue
		}
		fields, ok := part.Doc()
		if !ok {
			continue
		}
		for _, seq := range seqs {
			fieldKey, fieldBit, err := bitfield.Encode(seq)
			if err != nil {
				continue
			}
			field, found, err := bsonraw.Lookup(fields, fieldKey)
			if err != nil || !found {
				continue
			}
			if word, ok := field.Int64(); ok && uint64(word)&fieldBit != 0 {
				pinged[seq] = true
			}
		}
	}
	return pinged, nil
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
