package liveness_test

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/presence-go/presence/internal/testserver"
	"github.com/presence-go/presence/liveness"
)

// TestPingAcceptedDuringStopIsWritten pings from several goroutines while
// the batcher stops: every ping that Ping accepted is in the database
// afterwards, written by the final flush if by no other.
func TestPingAcceptedDuringStopIsWritten(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		for round := 0; round < 30; round++ {
			pb := liveness.NewPingBatcher(e.store, e.opts(liveness.WithFlushInterval(time.Hour))...)
			const pingers = 8
			var wg sync.WaitGroup
			accepted := make([][]int64, pingers)
			// Stop once every goroutine is pinging at full speed, so that
			// pings race the final flush's taking of the shards; each
			// pings at most 3,000 sequences, to keep the document small.
			var warm sync.WaitGroup
			warm.Add(pingers)
			for g := 0; g < pingers; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for seq := int64(g); len(accepted[g]) < 3000; seq += pingers {
						if err := pb.Ping(modelA, startSlot+int64(round)*30, strconv.FormatInt(seq/63, 16), 1<<(seq%63)); err != nil {
							if len(accepted[g]) < 500 {
								warm.Done()
							}
							return
						}
						accepted[g] = append(accepted[g], seq)
						if len(accepted[g]) == 500 {
							warm.Done()
						}
					}
				}()
			}
			warm.Wait()
			if err := pb.Stop(); err != nil {
				t.Fatalf("round %d: Stop = %v", round, err)
			}
			wg.Wait()

			var doc struct {
				Alive map[string]int64 `bson:"alive"`
			}
			e.findID("presence.pings", docID(modelA, startSlot+int64(round)*30), &doc)
			lost := 0
			for _, seqs := range accepted {
				for _, seq := range seqs {
					if doc.Alive[strconv.FormatInt(seq/63, 16)]&(1<<(seq%63)) == 0 {
						lost++
					}
				}
			}
			if lost > 0 {
				t.Fatalf("round %d: %d accepted pings are not in the database", round, lost)
			}
		}
	})
}

// TestStoppedWorkersTexts pins the whole text of the errors of this
// package's face for the states callers branch on, each with its sentinel:
// a stopped batcher's Ping and Sync, Alive and AliveKeys on a stopped
// watcher, and Start on a running pinger. The root package's test of the
// same name pins Juju's texts.
func TestStoppedWorkersTexts(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		assertText := func(what string, err, sentinel error, want string) {
			t.Helper()
			if err == nil || err.Error() != want || !errors.Is(err, sentinel) {
				t.Errorf("%s = %v; want %q, for which errors.Is(err, %q) holds", what, err, want, sentinel)
			}
		}
		pb := liveness.NewPingBatcher(e.store, e.opts()...)
		p := liveness.NewPinger(e.store, modelA, "k", pb, e.opts()...)
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		assertText("Start of a running pinger", p.Start(), liveness.ErrAlreadyStarted,
			`presence: pinger for "k" in model "`+modelA+`": pinger already started`)
		if err := p.Stop(); err != nil {
			t.Fatal(err)
		}
		if err := pb.Stop(); err != nil {
			t.Fatal(err)
		}
		assertText("Ping on a stopped batcher", pb.Ping(modelA, startSlot, "0", 1), liveness.ErrStopped, "presence: PingBatcher is stopped")
		assertText("Sync on a stopped batcher", pb.Sync(), liveness.ErrStopped, "presence: PingBatcher is stopped")

		w := liveness.NewWatcher(e.store, modelA, e.opts()...)
		if err := w.Stop(); err != nil {
			t.Fatal(err)
		}
		_, err := w.Alive("k")
		assertText("Alive on a stopped watcher", err, liveness.ErrDying,
			`presence: cannot check liveness of "k" in model "`+modelA+`": watcher is dying`)
		_, err = w.AliveKeys()
		assertText("AliveKeys on a stopped watcher", err, liveness.ErrDying,
			`presence: cannot list the alive keys of model "`+modelA+`": watcher is dying`)
	})
}

// TestBigFlushIsSentInCommandsOfAThousand flushes 1,001 slot documents:
// they go in two update commands, none of more than 1,000 statements.
func TestBigFlushIsSentInCommandsOfAThousand(t *testing.T) {
	bridge := testserver.Shared(t).Bridge()
	if bridge == nil {
		t.Skip("skipped: counting commands needs the bridge, absent with PRESENCE_TEST_MONGODB")
	}
	forEachFace(t, func(t *testing.T, e *env) {
		pb := e.batcher()
		const docs = 1001
		for i := 0; i < docs; i++ {
			if err := pb.Ping(fmt.Sprintf("model-%d", i), startSlot, "0", 1); err != nil {
				t.Fatal(err)
			}
		}
		bridge.ResetStats()
		if err := pb.Sync(); err != nil {
			t.Fatal(err)
		}
		st := bridge.Stats()
		if got := st.Commands["update"]; got != 2 {
			t.Errorf("%d update commands for %d documents; want 2", got, docs)
		}
		if st.UpdateStatements != docs {
			t.Errorf("%d update statements; want %d", st.UpdateStatements, docs)
		}
		if st.MaxUpdateStatements > 1000 {
			t.Errorf("an update command of %d statements; want at most 1,000", st.MaxUpdateStatements)
		}
	})
}

// TestDeadBatcherReportsItsError needs no database, so it runs once rather
// than per face. Ping and Sync say the batcher is stopped, and why.
func TestDeadBatcherReportsItsError(t *testing.T) {
	boom := errors.New("boom")
	pb := liveness.NewDeadPingBatcher(boom)
	for what, err := range map[string]error{"Ping": pb.Ping(modelA, 30, "0", 1), "Sync": pb.Sync()} {
		if !errors.Is(err, liveness.ErrStopped) || !errors.Is(err, boom) || err.Error() != "presence: PingBatcher is stopped: boom" {
			t.Errorf("%s = %v; want ErrStopped and the batcher's error", what, err)
		}
	}
	if err := pb.Wait(); err != boom {
		t.Errorf("Wait = %v", err)
	}
	if err := pb.Stop(); err != boom {
		t.Errorf("Stop = %v", err)
	}
}
