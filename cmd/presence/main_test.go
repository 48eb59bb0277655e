package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/juju/clock/testclock"
	"github.com/juju/mgo/v2"
	"github.com/juju/names/v4"

	"github.com/presence-go/presence"
	"github.com/presence-go/presence/internal/slot"
	"github.com/presence-go/presence/internal/testserver"
	"github.com/presence-go/presence/liveness"
)

func TestMain(m *testing.M) { testserver.Main(m) }

const model = "d2c8e1f0-5b1a-4c3e-9f7a-0a1b2c3d4e5f"

// result is what one run of the command line gave.
type result struct {
	code           int
	stdout, stderr string
}

func runArgs(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr strings.Builder
	code := run(context.Background(), args, &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

// drivers are the values of --driver; the tests that connect run with each.
var drivers = []driverName{driverOfficial, driverMgo}

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

// store returns the fixture's presence store through driver, as the
// commands open it.
func (f *fixture) store(t *testing.T, driver driverName) liveness.Store {
	t.Helper()
	cn, err := dial(context.Background(), driver, f.url, f.db.Name, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cn.Close)
	return cn.store("presence")
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

	for _, driver := range drivers {
		t.Run(string(driver), func(t *testing.T) {
			flags := f.flags("--driver", string(driver))
			r := runArgs(t, append([]string{"status"}, flags...)...)
			if r.code != exitOK {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			if !strings.Contains(r.stdout, "3 alive") || !strings.Contains(r.stdout, "machine-0") ||
				!strings.Contains(r.stdout, "machine-1") || strings.Contains(r.stdout, "machine-2") {
				t.Errorf("status output:\n%s", r.stdout)
			}

			r = runArgs(t, append([]string{"status", "--json"}, flags...)...)
			var got statusResult
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatalf("--json output %q: %v", r.stdout, err)
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
				if err := json.Unmarshal([]byte(r.stdout), &one); err != nil {
					t.Fatalf("--key %s: %q: %v", key, r.stdout, err)
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
	if r.code != exitOK {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if slot.At(before, 0, period) != slot.At(time.Now(), 0, period) {
		t.Skip("the test crossed the start of an hour")
	}
	var got statusResult
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("--json output %q: %v", r.stdout, err)
	}
	want := []aliveKey{{"earlier", 2, got.Slot - 3600}, {"now", 1, got.Slot}}
	if len(got.Alive) != 2 || got.Alive[0] != want[0] || got.Alive[1] != want[1] {
		t.Errorf("alive = %+v, want %+v", got.Alive, want)
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
	if r.code != exitOK {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "2 alive") || !strings.Contains(r.stdout, "machine-0") ||
		!strings.Contains(r.stdout, "unit-mysql-0") || strings.Contains(r.stdout, "machine-1") {
		t.Errorf("status output:\n%s", r.stdout)
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
			if r.code != exitUsage || r.stderr != want || r.stdout != "" {
				t.Errorf("%s --model %s: exit %d, stderr %q, stdout %q; want exit %d, stderr %q and no output",
					command, c.model, r.code, r.stderr, r.stdout, exitUsage, want)
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
		{"no command", nil, exitUsage, "Usage: presence"},
		{"unknown command", []string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{"bad flag", []string{"status", "--bogus"}, exitUsage, "flag provided but not defined"},
		{"bad driver", []string{"status", "--driver", "bogus", "--url", f.url, "--model", model}, exitUsage, `invalid value "bogus" for flag -driver`},
		{"stray argument", []string{"status", "--url", f.url, "--model", model, "extra"}, exitUsage, `unexpected argument "extra"`},
		{"no URL", []string{"status", "--model", model}, exitUsage, "--url is required"},
		{"empty model", []string{"status", "--url", f.url}, exitUsage, "--model is required"},
		{"model with colon", []string{"prune", "--url", f.url, "--model", "a:b"}, exitUsage, `model UUID "a:b" contains ':'`},
		{"bad period", []string{"status", "--url", f.url, "--model", model, "--period", "1500ms"}, exitUsage, "whole number of seconds"},
		{"short demo", []string{"demo", "--duration", "1s"}, exitUsage, "too short"},
		{"short soak", []string{"soak", "--duration", "10s"}, exitUsage, "too short"},
		{"soak without actions", []string{"soak", "--rate", "0"}, exitUsage, "--rate 0"},
	}
	// What a connection meets depends on the driver.
	for _, driver := range drivers {
		d := []string{"--driver", string(driver)}
		cases = append(cases, []struct {
			name string
			args []string
			code int
			want string
		}{
			{"unreachable", append([]string{"status", "--url", "mongodb://" + addr, "--model", model, "--timeout", "1s"}, d...), exitFailure, "cannot reach " + addr + " within 1s"},
			{"bad URL", append([]string{"watch", "--url", "http://example.com", "--model", model}, d...), exitUsage, "bad URL"},
			{"bad URL option", append([]string{"prune", "--url", "mongodb://127.0.0.1/?bogus=1", "--model", model}, d...), exitUsage, "bad URL"},
			{"missing collection", append([]string{"status", "--url", f.url, "--db", f.db.Name, "--base", "nothing", "--model", model}, d...), exitFailure, "nothing.beings does not exist"},
			{"missing database", append([]string{"prune", "--url", f.url, "--db", f.db.Name + "x", "--model", model}, d...), exitFailure, "does not exist"},
			{"demo unreachable", append([]string{"demo", "--url", "mongodb://" + addr, "--timeout", "1s"}, d...), exitFailure, "cannot reach " + addr},
		}...)
	}
	for _, c := range cases {
		name := c.name
		if i := slices.Index(c.args, "--driver"); i >= 0 {
			name += "/" + c.args[i+1]
		}
		t.Run(name, func(t *testing.T) {
			r := runArgs(t, c.args...)
			if r.code != c.code {
				t.Errorf("exit %d, want %d; stderr %q", r.code, c.code, r.stderr)
			}
			if !strings.Contains(r.stderr, c.want) {
				t.Errorf("stderr %q does not say %q", r.stderr, c.want)
			}
			if c.code == exitFailure && strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Errorf("error is not one line: %q", r.stderr)
			}
			if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic") {
				t.Errorf("stack trace in %q", r.stderr)
			}
		})
	}
}

func TestHelpDescribesEveryCommand(t *testing.T) {
	for _, cmd := range []string{"demo", "soak", "status", "watch", "prune"} {
		r := runArgs(t, cmd, "--help")
		if r.code != exitOK {
			t.Errorf("%s --help: exit %d", cmd, r.code)
		}
		for _, want := range []string{"Usage: presence " + cmd, "Exit codes: 0 success, 1 runtime failure, 2 usage error", "-seed", "-driver"} {
			if want == "-seed" && cmd != "demo" && cmd != "soak" {
				want = "-model"
			}
			if !strings.Contains(r.stdout, want) {
				t.Errorf("%s --help does not say %q:\n%s", cmd, want, r.stdout)
			}
		}
	}
	if r := runArgs(t, "help"); r.code != exitOK || !strings.Contains(r.stdout, "Exit codes") {
		t.Errorf("help: exit %d, stdout %q", r.code, r.stdout)
	}
}

// TestPruneDryRunThenPrune writes a key's two sequences into a slot long
// past, through a pinger on a driven clock: the older sequence is
// superseded and the slot is out of the live window.
func TestPruneDryRunThenPrune(t *testing.T) {
	for _, driver := range drivers {
		t.Run(string(driver), func(t *testing.T) { testPruneDryRunThenPrune(t, driver) })
	}
}

func testPruneDryRunThenPrune(t *testing.T, driver driverName) {
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
	if r.code != exitOK {
		t.Fatalf("dry run: exit %d, stderr %q", r.code, r.stderr)
	}
	var got pruneResult
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
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
	if r.code != exitOK {
		t.Fatalf("prune: exit %d, stderr %q", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "removed 1 beings (2 -> 1) and 1 slot documents (1 -> 0)") {
		t.Errorf("prune said %q", r.stdout)
	}
	if b, p := count(); b != 1 || p != 0 {
		t.Fatalf("after prune: %d beings, %d pings; want 1, 0", b, p)
	}
}

// lines collects what a command writes, a line at a time.
func lines() (io.WriteCloser, <-chan string) {
	pr, pw := io.Pipe()
	out := make(chan string, 1000)
	go func() {
		defer close(out)
		scanner := bufio.NewScanner(pr)
		for scanner.Scan() {
			out <- scanner.Text()
		}
	}()
	return pw, out
}

// background is a command running until its context ends, its output
// read a line at a time.
type background struct {
	out    <-chan string
	exit   chan int
	stderr strings.Builder
}

// runInBackground runs the command args until ctx ends.
func runInBackground(ctx context.Context, args []string) *background {
	stdout, out := lines()
	b := &background{out: out, exit: make(chan int, 1)}
	go func() {
		b.exit <- run(ctx, args, stdout, &b.stderr)
		stdout.Close()
	}()
	return b
}

// expectExit waits for the command to exit with exitOK, failing with
// notStopped after 20 s, and then reads what is left of its output.
func (b *background) expectExit(t *testing.T, notStopped string) {
	t.Helper()
	select {
	case code := <-b.exit:
		if code != exitOK {
			t.Errorf("exit %d, stderr %q", code, b.stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal(notStopped)
	}
	for range b.out {
	}
}

// expectLine waits for a line containing want.
func expectLine(t *testing.T, out <-chan string, want string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case line, ok := <-out:
			if !ok {
				t.Fatalf("output ended before %q", want)
			}
			if strings.Contains(line, want) {
				return
			}
		case <-deadline:
			t.Fatalf("no line with %q", want)
		}
	}
}

func TestWatchStreamsChangesUntilCancelled(t *testing.T) {
	for _, driver := range drivers {
		t.Run(string(driver), func(t *testing.T) { testWatchStreamsChangesUntilCancelled(t, driver) })
	}
}

func testWatchStreamsChangesUntilCancelled(t *testing.T, driver driverName) {
	f := newFixture(t)
	opts := []presence.Option{presence.WithPeriod(time.Second)}
	batcher := f.batcher(t, append(opts, presence.WithFlushInterval(100*time.Millisecond))...)
	first := f.start(t, batcher, "machine-0", opts...)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := runInBackground(ctx, append([]string{"watch", "--period", "1s", "--driver", string(driver)}, f.flags()...))
	out := cmd.out

	expectLine(t, out, "machine-0 alive")
	if err := first.KillForTesting(); err != nil {
		t.Fatal(err)
	}
	expectLine(t, out, "machine-0 dead")
	// A key that appears later is found in beings at the next poll.
	f.start(t, batcher, "machine-1", opts...)
	expectLine(t, out, "machine-1 alive")

	cancel()
	cmd.expectExit(t, "watch did not stop when cancelled")
}
