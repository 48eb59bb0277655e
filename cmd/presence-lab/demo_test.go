package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/presence-go/presence/cmd/internal/cli"
	"github.com/presence-go/presence/cmd/internal/cli/clitest"
)

func TestDemoRunsToItsSummary(t *testing.T) {
	f := newFixture(t)
	r := runArgs(t, "demo", "--url", f.url, "--db", f.db, "--seed", "1",
		"--agents", "30", "--kills", "3", "--stops", "3",
		"--period", "1s", "--flush", "100ms", "--duration", "13s")
	if r.Code != cli.ExitOK {
		t.Fatalf("exit %d, stderr %q\n%s", r.Code, r.Stderr, r.Stdout)
	}
	for _, want := range []string{
		"presence demo: seed 1, 30 agents in 3 models",
		"driver official",
		"Summary (seed 1)",
		"kills: 3 seen, 0 not",
		"stops: 3 seen, 0 not",
		"keys reported dead while still pinging: 0",
		"first reports of the watchers: 60 alive, 0 dead",
		"Worker reports:",
		"batcher: ",
		"30 pingers, summed: ",
	} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, r.Stdout)
		}
	}
}

func TestPlanIsDeterministic(t *testing.T) {
	cfg := demoConfig{agents: 50, kills: 5, stops: 5, period: time.Second, flush: 100 * time.Millisecond, duration: 20 * time.Second}
	from, to := cfg.window()
	a := plan(newRand(7), cfg.agents, cfg.kills, cfg.stops, from, to)
	b := plan(newRand(7), cfg.agents, cfg.kills, cfg.stops, from, to)
	if len(a) != 10 {
		t.Fatalf("%d actions, want 10", len(a))
	}
	seen := map[int]bool{}
	kills := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed, different plans: %+v vs %+v", a[i], b[i])
		}
		if a[i].at < from || a[i].at > to || (i > 0 && a[i].at < a[i-1].at) {
			t.Errorf("action %d at %v: outside [%v, %v] or out of order", i, a[i].at, from, to)
		}
		if seen[a[i].agent] {
			t.Errorf("agent %d acted on twice", a[i].agent)
		}
		seen[a[i].agent] = true
		if a[i].kill {
			kills++
		}
	}
	if kills != 5 {
		t.Errorf("%d kills, want 5", kills)
	}
}

func TestProgressBar(t *testing.T) {
	for _, c := range []struct {
		done time.Duration
		want string
	}{{0, "[----]"}, {5 * time.Second, "[##--]"}, {time.Minute, "[####]"}} {
		if got := progressBar(c.done, 10*time.Second, 4); got != c.want {
			t.Errorf("progressBar(%v) = %q, want %q", c.done, got, c.want)
		}
	}
}

func TestEventRatesSpanTheLastSecond(t *testing.T) {
	var samples []sample
	for i := 0; i <= 8; i++ {
		// 4 frames a second; model 0 has 10 events a frame, model 1 none.
		samples = append(samples, sample{time.Duration(i) * 250 * time.Millisecond, []int{10 * i, 5}})
		samples = recent(samples, time.Second)
	}
	if len(samples) != 5 || samples[0].at != time.Second {
		t.Fatalf("kept %d samples from %v; want 5 from 1s", len(samples), samples[0].at)
	}
	if got := eventRates(samples); got[0] != 40 || got[1] != 0 {
		t.Errorf("rates = %v, want [40 0]", got)
	}
	if got := eventRates(samples[:1]); got[0] != 0 {
		t.Errorf("one sample: rates = %v, want 0", got)
	}
}

// TestDemoInterruptedStillSummarises runs the demo's workers on mgo, the
// driver of the Juju-compatible face; the other demo tests run on the
// default, official one.
func TestDemoInterruptedStillSummarises(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := clitest.Start(ctx, program, []string{"demo", "--driver", "mgo", "--url", f.url, "--db", f.db, "--seed", "2",
		"--agents", "9", "--kills", "1", "--stops", "1", "--period", "1s", "--duration", "1m"})
	cmd.ExpectLine(t, "started 9 agents")
	cancel()
	cmd.ExpectLine(t, "interrupted")
	cmd.ExpectLine(t, "Summary (seed 2)")
	cmd.ExpectExit(t, "demo did not stop when interrupted")
}

// TestDemoWatchersFirstSeeEveryAgentAlive starts the demo's workers with a
// flush interval so long that the batcher's timer cannot have written
// anything before the watchers start (its first flush comes 2 s after it
// started at the soonest): their first report of every agent must say
// alive all the same.
func TestDemoWatchersFirstSeeEveryAgentAlive(t *testing.T) {
	for _, driver := range clitest.Drivers {
		t.Run(string(driver), func(t *testing.T) { testDemoWatchersFirstSeeEveryAgentAlive(t, driver) })
	}
}

func testDemoWatchersFirstSeeEveryAgentAlive(t *testing.T, driver cli.Driver) {
	f := newFixture(t)
	cfg := demoConfig{agents: 6, models: 2, watchersPerModel: 2, period: 3 * time.Second, flush: 2500 * time.Millisecond}
	uuids := []string{model, "e3d9f2a1-6c2b-4d4f-8a8b-1b2c3d4e5f60"}
	tr := newTracker(cfg, uuids)
	ws, err := startWorkers(context.Background(), cfg, f.store(t, driver), uuids, tr, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.stop()
	select {
	case <-tr.allFirst:
	case <-time.After(20 * time.Second):
		alive, dead := tr.firstReports()
		t.Fatalf("only %d of %d first reports arrived", alive+dead, cfg.agents*cfg.watchersPerModel)
	}
	if alive, dead := tr.firstReports(); alive != cfg.agents*cfg.watchersPerModel || dead != 0 {
		t.Errorf("first reports: %d alive, %d dead; want every agent alive at every watcher", alive, dead)
	}
}
