package main

import (
	"context"
	"encoding/json"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/juju/clock/testclock"
	"github.com/juju/mgo/v2"
	"github.com/juju/names/v4"

	"github.com/presence-go/presence"
	"github.com/presence-go/presence/cmd/internal/cli"
	"github.com/presence-go/presence/cmd/internal/cli/clitest"
	"github.com/presence-go/presence/internal/slot"
	"github.com/presence-go/presence/internal/testserver"
)

func TestMain(m *testing.M) { testserver.Main(m) }

const model = "d2c8e1f0-5b1a-4c3e-9f7a-0a1b2c3d4e5f"

// runArgs runs presence with args.
func runArgs(t *testing.T, args ...string) clitest.Result {
	t.Helper()
	return clitest.Run(t, program, args...)
}

// fixture is a fresh database on the shared server and the flags that
// reach it. Its pingers run on the Juju-compatible face of the library,
// over mgo, whichever the driver of the command under test.
type fixture struct {
	server *testserver.Server
	url    string
	db     *mgo.Database
	base   *mgo.Collection
}

func newFixture(t *testing.T) *fixture {
	server := testserver.Shared(t)
	db := server.Database(t)
	return &fixture{server: server, url: server.URL(), db: db, base: db.C("presence")}
}

func (f *fixture) flags(extra ...string) []string {
	return append([]string{"--url", f.url, "--db", f.db.Name, "--model", model, "--timeout", "5s"}, extra...)
}

// start starts a pinger for key through batcher and waits until its first
// ping is written.
func (f *fixture) start(t *testing.T, batcher *presence.PingBatcher, key string, opts ...presence.Option) *presence.Pinger {
	t.Helper()
	p := presence.NewPingerWithOptions(f.base, names.NewModelTag(model), key,
		func() presence.PingRecorder { return batcher }, opts...)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop() })
	if err := batcher.Sync(); err != nil {
		t.Fatal(err)
	}
	return p
}

func (f *fixture) batcher(t *testing.T, opts ...presence.Option) *presence.PingBatcher {
	b := presence.NewPingBatcherWithOptions(f.base, opts...)
	t.Cleanup(func() { b.Stop() })
	return b
}

func TestStatusListsAliveKeys(t *testing.T) {
	f := newFixture(t)
	batcher := f.batcher(t)
	f.start(t, batcher, "machine-0")
	f.start(t, batcher, "machine-1")
	killed := f.start(t, batcher, "machine-2")
	if err := killed.KillForTesting(); err != nil {
		t.Fatal(err)
	}
	// A pinger started again holds a new sequence.
	restarted := f.start(t, batcher, "machine-3")
	if err := restarted.Stop(); err != nil {
		t.Fatal(err)
	}
	f.start(t, batcher, "machine-3")

	for _, driver := range clitest.Drivers {
		t.Run(string(driver), func(t *testing.T) {
			flags := f.flags("--driver", string(driver))
			r := runArgs(t, append([]string{"status"}, flags...)...)
			if r.Code != cli.ExitOK {
				t.Fatalf("exit %d, stderr %q", r.Code, r.Stderr)
			}
			if !strings.Contains(r.Stdout, "3 alive") || !strings.Contains(r.Stdout, "machine-0") ||
				!strings.Contains(r.Stdout, "machine-1") || strings.Contains(r.Stdout, "machine-2") {
				t.Errorf("status output:\n%s", r.Stdout)
			}

			r = runArgs(t, append([]string{"status", "--json"}, flags...)...)
			var got statusResult
			if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil {
				t.Fatalf("--json output %q: %v", r.Stdout, err)
			}
			want := []aliveKey{{Key: "machine-0", Seq: 1}, {Key: "machine-1", Seq: 2}, {Key: "machine-3", Seq: 5}}
			if len(got.Alive) != len(want) {
				t.Fatalf("alive = %+v, want %+v", got.Alive, want)
			}
			for i, a := range got.Alive {
				if a.Key != want[i].Key || a.Seq != want[i].Seq {
					t.Errorf("alive[%d] = %+v, want key %s, seq %d", i, a, want[i].Key, want[i].Seq)
				}
				if a.LastSlot != got.Slot && a.LastSlot != got.Slot-got.PeriodSeconds {
					t.Errorf("%s: last slot %d is not live at slot %d", a.Key, a.LastSlot, got.Slot)
				}
			}

			for key, want := range map[string]bool{"machine-1": true, "machine-2": false, "nobody": false} {
				r = runArgs(t, append([]string{"status", "--json", "--key", key}, flags...)...)
				var one statusResult
				if err := json.Unmarshal([]byte(r.Stdout), &one); err != nil {
					t.Fatalf("--key %s: %q: %v", key, r.Stdout, err)
				}
				if one.KeyAlive == nil || *one.KeyAlive != want {
					t.Errorf("--key %s: key_alive = %v, want %v", key, one.KeyAlive, want)
				}
				if want && (len(one.Alive) != 1 || one.Alive[0].Key != key) {
					t.Errorf("--key %s: alive = %+v", key, one.Alive)
				}
			}
		})
	}
}

// TestStatusShowsTheSlotEachKeyLastPinged runs with hour-long slots: one
// pinger pings the current slot, another, on a clock an hour behind, the
// previous one.
func TestStatusShowsTheSlotEachKeyLastPinged(t *testing.T) {
	f := newFixture(t)
	const period = time.Hour
	before := time.Now()
	opts := []presence.Option{presence.WithPeriod(period)}
	batcher := f.batcher(t, opts...)
	f.start(t, batcher, "now", opts...)
	earlier := testclock.NewClock(before.Add(-period))
	f.start(t, batcher, "earlier", append(opts, presence.WithClock(earlier), presence.WithClockSkew(false))...)

	r := runArgs(t, append([]string{"status", "--json", "--period", "1h"}, f.flags()...)...)
	if r.Code != cli.ExitOK {
		t.Fatalf("exit %d, stderr %q", r.Code, r.Stderr)
	}
	if slot.At(before, 0, period) != slot.At(time.Now(), 0, period) {
		t.Skip("the test crossed the start of an hour")
	}
	var got statusResult
	if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil {
		t.Fatalf("--json output %q: %v", r.Stdout, err)
	}
	want := []aliveKey{{"earlier", 2, got.Slot - 3600}, {"now", 1, got.Slot}}
	if len(got.Alive) != 2 || got.Alive[0] != want[0] || got.Alive[1] != want[1] {
		t.Errorf("alive = %+v, want %+v", got.Alive, want)
	}
}

// TestStatusShowsTheSequenceThatKeepsAKeyAlive restarts a pinger whose
// new sequence's first ping is not written yet (the batcher flushes every
// ten minutes, and is not asked to): its old sequence still keeps the key
// alive, and status shows that one, with the slot it pinged, rather than
// the newest being's sequence, which has pinged nowhere.
func TestStatusShowsTheSequenceThatKeepsAKeyAlive(t *testing.T) {
	f := newFixture(t)
	const period = time.Hour
	before := time.Now()
	opts := []presence.Option{presence.WithPeriod(period)}
	batcher := f.batcher(t, append(opts, presence.WithFlushInterval(10*time.Minute))...)
	p := f.start(t, batcher, "machine-0", opts...)
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}

	r := runArgs(t, append([]string{"status", "--json", "--period", "1h"}, f.flags()...)...)
	if r.Code != cli.ExitOK {
		t.Fatalf("exit %d, stderr %q", r.Code, r.Stderr)
	}
	if slot.At(before, 0, period) != slot.At(time.Now(), 0, period) {
		t.Skip("the test crossed the start of an hour")
	}
	var got statusResult
	if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil {
		t.Fatalf("--json output %q: %v", r.Stdout, err)
	}
	want := aliveKey{Key: "machine-0", Seq: 1, LastSlot: got.Slot}
	if len(got.Alive) != 1 || got.Alive[0] != want {
		t.Errorf("alive = %+v, want [%+v]", got.Alive, want)
	}
}

// TestStatusReadsFerretDBDirectly lists, with the official driver and no
// bridge in between, the keys that pingers on the Juju-compatible face
// (mgo, through the bridge) keep alive.
func TestStatusReadsFerretDBDirectly(t *testing.T) {
	server := testserver.Shared(t)
	direct := server.DirectURL()
	if server.Bridge() != nil && (direct == "" || direct == server.URL()) {
		t.Fatalf("DirectURL %q: want FerretDB's own address, not the bridge's %s", direct, server.URL())
	}
	db := server.Database(t)
	base := db.C("presence")
	batcher := presence.NewPingBatcher(base, 100*time.Millisecond)
	t.Cleanup(func() { batcher.Stop() })
	recorder := func() presence.PingRecorder { return batcher }
	var pingers []*presence.Pinger
	for _, key := range []string{"machine-0", "machine-1", "unit-mysql-0"} {
		p := presence.NewPinger(base, names.NewModelTag(model), key, recorder)
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Stop() })
		pingers = append(pingers, p)
	}
	if err := pingers[1].KillForTesting(); err != nil {
		t.Fatal(err)
	}
	if err := batcher.Sync(); err != nil {
		t.Fatal(err)
	}

	r := runArgs(t, "status", "--url", direct, "--db", db.Name, "--model", model, "--timeout", "5s")
	if r.Code != cli.ExitOK {
		t.Fatalf("exit %d, stderr %q", r.Code, r.Stderr)
	}
	if !strings.Contains(r.Stdout, "2 alive") || !strings.Contains(r.Stdout, "machine-0") ||
		!strings.Contains(r.Stdout, "unit-mysql-0") || strings.Contains(r.Stdout, "machine-1") {
		t.Errorf("status output:\n%s", r.Stdout)
	}
}

// closedAddress returns a loopback address nothing listens on.
func closedAddress(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestModelMustBeAUUID gives commands that read a model an id that is not
// a model UUID in canonical form, on a database that has the collections:
// each exits 2, before connecting, with one line saying why, and prints
// nothing else. (watch checks its flags the same way, and would run until
// interrupted if it took the id.)
func TestModelMustBeAUUID(t *testing.T) {
	f := newFixture(t)
	f.start(t, f.batcher(t), "machine-0")
	for _, c := range []struct{ model, problem string }{
		{"not-a-uuid", `model UUID "not-a-uuid" is not a UUID (8-4-4-4-12 hexadecimal digits)`},
		{"test-uuid", `model UUID "test-uuid" is not a UUID (8-4-4-4-12 hexadecimal digits)`},
		{model + "0", `model UUID "` + model + `0" is not a UUID (8-4-4-4-12 hexadecimal digits)`},
		{strings.ToUpper(model), `model UUID "` + strings.ToUpper(model) + `" has upper-case digits: model UUIDs are lower-case`},
	} {
		for _, command := range []string{"status", "prune"} {
			r := runArgs(t, command, "--url", f.url, "--db", f.db.Name, "--model", c.model, "--timeout", "5s")
			want := "presence: invalid --model: " + c.problem + "\n"
			if r.Code != cli.ExitUsage || r.Stderr != want || r.Stdout != "" {
				t.Errorf("%s --model %s: exit %d, stderr %q, stdout %q; want exit %d, stderr %q and no output",
					command, c.model, r.Code, r.Stderr, r.Stdout, cli.ExitUsage, want)
			}
		}
	}
}

func TestErrorsAreOneLineWithExitCodes(t *testing.T) {
	f := newFixture(t)
	// A database with the collections, to tell a missing one apart.
	batcher := f.batcher(t)
	f.start(t, batcher, "machine-0")
	addr := closedAddress(t)
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no command", nil, cli.ExitUsage, "Usage: presence"},
		{"unknown command", []string{"frobnicate"}, cli.ExitUsage, `unknown command "frobnicate"`},
		{"bad flag", []string{"status", "--bogus"}, cli.ExitUsage, "flag provided but not defined"},
		{"bad driver", []string{"status", "--driver", "bogus", "--url", f.url, "--model", model}, cli.ExitUsage, `invalid value "bogus" for flag -driver`},
		{"stray argument", []string{"status", "--url", f.url, "--model", model, "extra"}, cli.ExitUsage, `unexpected argument "extra"`},
		{"no URL", []string{"status", "--model", model}, cli.ExitUsage, "--url is required"},
		{"empty model", []string{"status", "--url", f.url}, cli.ExitUsage, "--model is required"},
		{"model with colon", []string{"prune", "--url", f.url, "--model", "a:b"}, cli.ExitUsage, `model UUID "a:b" contains ':'`},
		{"bad period", []string{"status", "--url", f.url, "--model", model, "--period", "1500ms"}, cli.ExitUsage, "whole number of seconds"},
	}
	// What a connection meets depends on the driver.
	for _, driver := range clitest.Drivers {
		d := []string{"--driver", string(driver)}
		cases = append(cases, []struct {
			name string
			args []string
			code int
			want string
		}{
			{"unreachable", append([]string{"status", "--url", "mongodb://" + addr, "--model", model, "--timeout", "1s"}, d...), cli.ExitFailure, "cannot reach " + addr + " within 1s"},
			{"bad URL", append([]string{"watch", "--url", "http://example.com", "--model", model}, d...), cli.ExitUsage, "bad URL"},
			{"bad URL option", append([]string{"prune", "--url", "mongodb://127.0.0.1/?bogus=1", "--model", model}, d...), cli.ExitUsage, "bad URL"},
			{"missing collection", append([]string{"status", "--url", f.url, "--db", f.db.Name, "--base", "nothing", "--model", model}, d...), cli.ExitFailure, "nothing.beings does not exist"},
			{"missing database", append([]string{"prune", "--url", f.url, "--db", f.db.Name + "x", "--model", model}, d...), cli.ExitFailure, "does not exist"},
		}...)
	}
	for _, c := range cases {
		name := c.name
		if i := slices.Index(c.args, "--driver"); i >= 0 {
			name += "/" + c.args[i+1]
		}
		t.Run(name, func(t *testing.T) {
			r := runArgs(t, c.args...)
			if r.Code != c.code {
				t.Errorf("exit %d, want %d; stderr %q", r.Code, c.code, r.Stderr)
			}
			if !strings.Contains(r.Stderr, c.want) {
				t.Errorf("stderr %q does not say %q", r.Stderr, c.want)
			}
			if c.code == cli.ExitFailure && strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
				t.Errorf("error is not one line: %q", r.Stderr)
			}
			if strings.Contains(r.Stderr, "goroutine ") || strings.Contains(r.Stderr, "panic") {
				t.Errorf("stack trace in %q", r.Stderr)
			}
		})
	}
}

func TestHelpDescribesEveryCommand(t *testing.T) {
	for _, cmd := range []string{"status", "watch", "prune"} {
		r := runArgs(t, cmd, "--help")
		if r.Code != cli.ExitOK {
			t.Errorf("%s --help: exit %d", cmd, r.Code)
		}
		for _, want := range []string{"Usage: presence " + cmd, "Exit codes: 0 success, 1 runtime failure, 2 usage error", "-model", "-driver", "-timeout"} {
			if !strings.Contains(r.Stdout, want) {
				t.Errorf("%s --help does not say %q:\n%s", cmd, want, r.Stdout)
			}
		}
	}
	if r := runArgs(t, "help"); r.Code != cli.ExitOK || !strings.Contains(r.Stdout, "Exit codes") || !strings.Contains(r.Stdout, "presence-lab") {
		t.Errorf("help: exit %d, stdout %q; want the exit codes, and where the demo and the soak are", r.Code, r.Stdout)
	}
}

// TestDemoAndSoakSayWhereTheyAre runs the commands that moved to
// presence-lab: each says where it is now, as a usage error, whatever its
// flags.
func TestDemoAndSoakSayWhereTheyAre(t *testing.T) {
	for _, args := range [][]string{{"demo"}, {"soak", "--seed", "3"}, {"demo", "--help"}} {
		r := runArgs(t, args...)
		want := "presence: " + args[0] + " is in presence-lab"
		if r.Code != cli.ExitUsage || !strings.Contains(r.Stderr, want) || !strings.Contains(r.Stderr, "go run ./cmd/presence-lab "+args[0]) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", args, r.Code, r.Stderr, cli.ExitUsage, want)
		}
	}
}

// TestPruneDryRunThenPrune writes a key's two sequences into a slot long
// past, through a pinger on a driven clock: the older sequence is
// superseded and the slot is out of the live window.
func TestPruneDryRunThenPrune(t *testing.T) {
	for _, driver := range clitest.Drivers {
		t.Run(string(driver), func(t *testing.T) { testPruneDryRunThenPrune(t, driver) })
	}
}

func testPruneDryRunThenPrune(t *testing.T, driver cli.Driver) {
	f := newFixture(t)
	clk := testclock.NewClock(time.Unix(3000, 0))
	opts := []presence.Option{presence.WithClock(clk), presence.WithClockSkew(false)}
	batcher := f.batcher(t, opts...)
	first := f.start(t, batcher, "machine-0", opts...)
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}
	f.start(t, batcher, "machine-0", opts...)

	count := func() (int, int) {
		beings, err := f.base.Database.C("presence.beings").Count()
		if err != nil {
			t.Fatal(err)
		}
		pings, err := f.base.Database.C("presence.pings").Count()
		if err != nil {
			t.Fatal(err)
		}
		return beings, pings
	}
	if b, p := count(); b != 2 || p != 1 {
		t.Fatalf("before: %d beings, %d pings; want 2, 1", b, p)
	}

	r := runArgs(t, append([]string{"prune", "--dry-run", "--json"}, f.flags("--driver", string(driver))...)...)
	if r.Code != cli.ExitOK {
		t.Fatalf("dry run: exit %d, stderr %q", r.Code, r.Stderr)
	}
	var got pruneResult
	if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil {
		t.Fatal(err)
	}
	want := pruneResult{Model: model, DryRun: true, BeingsBefore: 2, BeingsAfter: 1, PingsBefore: 1, PingsAfter: 0}
	if got != want {
		t.Errorf("dry run: %+v, want %+v", got, want)
	}
	if b, p := count(); b != 2 || p != 1 {
		t.Fatalf("after the dry run: %d beings, %d pings; want 2, 1", b, p)
	}

	r = runArgs(t, append([]string{"prune"}, f.flags("--driver", string(driver))...)...)
	if r.Code != cli.ExitOK {
		t.Fatalf("prune: exit %d, stderr %q", r.Code, r.Stderr)
	}
	if !strings.Contains(r.Stdout, "removed 1 beings (2 -> 1) and 1 slot documents (1 -> 0)") {
		t.Errorf("prune said %q", r.Stdout)
	}
	if b, p := count(); b != 1 || p != 0 {
		t.Fatalf("after prune: %d beings, %d pings; want 1, 0", b, p)
	}
}

func TestWatchStreamsChangesUntilCancelled(t *testing.T) {
	for _, driver := range clitest.Drivers {
		t.Run(string(driver), func(t *testing.T) { testWatchStreamsChangesUntilCancelled(t, driver) })
	}
}

func testWatchStreamsChangesUntilCancelled(t *testing.T, driver cli.Driver) {
	f := newFixture(t)
	opts := []presence.Option{presence.WithPeriod(time.Second)}
	batcher := f.batcher(t, append(opts, presence.WithFlushInterval(100*time.Millisecond))...)
	first := f.start(t, batcher, "machine-0", opts...)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := clitest.Start(ctx, program, append([]string{"watch", "--period", "1s", "--driver", string(driver)}, f.flags()...))

	cmd.ExpectLine(t, "machine-0 alive")
	if err := first.KillForTesting(); err != nil {
		t.Fatal(err)
	}
	cmd.ExpectLine(t, "machine-0 dead")
	// A key that appears later is found in beings at the next poll.
	f.start(t, batcher, "machine-1", opts...)
	cmd.ExpectLine(t, "machine-1 alive")

	cancel()
	cmd.ExpectExit(t, "watch did not stop when cancelled")
}
