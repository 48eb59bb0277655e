package main

import (
	"context"
	"math/rand"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/presence-go/presence/cmd/internal/cli"
	"github.com/presence-go/presence/internal/testserver"
)

func TestSoakPlansAreDeterministic(t *testing.T) {
	a := planActions(rand.New(rand.NewSource(3)), 5, 3, time.Minute)
	b := planActions(rand.New(rand.NewSource(3)), 5, 3, time.Minute)
	if len(a) < 200 || len(a) > 400 {
		t.Errorf("%d actions in a minute at 5 a second", len(a))
	}
	var kinds [soakActionKinds]int
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed, different actions: %+v vs %+v", a[i], b[i])
		}
		if a[i].at >= time.Minute || (i > 0 && a[i].at < a[i-1].at) || a[i].model < 0 || a[i].model >= 3 {
			t.Errorf("action %d: %+v out of order or of range", i, a[i])
		}
		kinds[a[i].kind]++
	}
	for kind, n := range kinds {
		if n == 0 {
			t.Errorf("no %v in %d actions", soakActionKind(kind), len(a))
		}
	}

	f := planFaults(rand.New(rand.NewSource(3)), 0, time.Minute)
	g := planFaults(rand.New(rand.NewSource(3)), 0, time.Minute)
	if len(f) < 60/(5+2) || len(f) > 60/2 {
		t.Errorf("%d faults in a minute", len(f))
	}
	for i := range f {
		if f[i] != g[i] {
			t.Fatalf("same seed, different faults: %+v vs %+v", f[i], g[i])
		}
		if i > 0 && f[i].at < f[i-1].at+f[i-1].length+minFaultGap {
			t.Errorf("fault %d at %v overlaps or follows %+v too closely", i, f[i].at, f[i-1])
		}
		switch f[i].kind {
		case faultOutage:
			if f[i].length < minOutage || f[i].length > maxOutage {
				t.Errorf("outage %+v out of bounds", f[i])
			}
		case faultLatency:
			if f[i].length < minSpike || f[i].length > maxSpike || f[i].latency < minLatency || f[i].latency > maxLatency {
				t.Errorf("latency spike %+v out of bounds", f[i])
			}
		}
		if f[i].at+f[i].length >= time.Minute {
			t.Errorf("fault %+v ends after the plan", f[i])
		}
	}
}

// TestSoakRunsToItsVerdict runs a short soak, with faults, on the shared
// server. The library may pass or fail it; what this pins down is that the
// soak runs its course, reads every watcher's final state and says why it
// fails, if it does.
func TestSoakRunsToItsVerdict(t *testing.T) {
	server := testserver.Shared(t)
	if server.Bridge() == nil {
		t.Skip("skipped: needs the bridge's fault controls, absent with PRESENCE_TEST_MONGODB")
	}
	// No session of the test's stays open during the soak: the faults
	// would make it dial again, and its new sockets would count as
	// goroutines left running.
	const db = "soak_runs_to_its_verdict"
	t.Cleanup(func() {
		session, err := server.Dial()
		if err != nil {
			t.Error(err)
			return
		}
		defer session.Close()
		if err := session.DB(db).DropDatabase(); err != nil {
			t.Errorf("dropping %s: %v", db, err)
		}
	})
	cfg := soakConfig{driver: cli.Official, agents: 12, models: 2, watchersPerModel: 2, period: time.Second, flush: 100 * time.Millisecond,
		rate: 4, faults: true, seed: 3}
	cfg.duration = cfg.judged() + 5*time.Second
	if err := cfg.check(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	err := soak(context.Background(), cfg, server, db, &out)
	text := out.String()
	for _, want := range []string{
		"presence soak: seed 3, 12 agents in 2 models, 2 watchers per model",
		"driver official",
		"Summary (seed 3):",
		"dead workers: none",
		"goroutines: ",
		"after everything stopped\nWorker reports:", // and none left running
		"Worker reports:",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("soak output lacks %q:\n%s", want, text)
		}
	}
	if m := regexp.MustCompile(`final state: (\d+) \(watcher, key\) pairs compared with the truth, 0 wrong`).FindStringSubmatch(text); m == nil || m[1] == "0" {
		t.Errorf("no final state compared, or some wrong:\n%s", text)
	}
	switch {
	case err == nil && !strings.Contains(text, "PASS (seed 3)"):
		t.Errorf("no error, but no PASS:\n%s", text)
	case err != nil && !strings.Contains(text, "FAIL (seed 3): "):
		t.Errorf("error %v, but no FAIL line:\n%s", err, text)
	}
}
