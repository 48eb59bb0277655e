package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/presence-go/presence/cmd/internal/cli"
	"github.com/presence-go/presence/cmd/internal/cli/clitest"
	"github.com/presence-go/presence/internal/testserver"
	"github.com/presence-go/presence/liveness"
)

func TestMain(m *testing.M) { testserver.Main(m) }

const model = "d2c8e1f0-5b1a-4c3e-9f7a-0a1b2c3d4e5f"

// runArgs runs presence-lab with args.
func runArgs(t *testing.T, args ...string) clitest.Result {
	t.Helper()
	return clitest.Run(t, program, args...)
}

// fixture is a fresh database on the shared server.
type fixture struct {
	url string
	db  string
}

func newFixture(t *testing.T) *fixture {
	server := testserver.Shared(t)
	return &fixture{url: server.URL(), db: server.Database(t).Name}
}

// store returns the fixture's presence store through driver, as the
// demo opens it.
func (f *fixture) store(t *testing.T, driver cli.Driver) liveness.Store {
	t.Helper()
	cn, err := cli.Dial(context.Background(), driver, f.url, f.db, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cn.Close)
	return cn.Store("presence")
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

func TestErrorsAreOneLineWithExitCodes(t *testing.T) {
	addr := closedAddress(t)
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no command", nil, cli.ExitUsage, "Usage: presence-lab"},
		{"unknown command", []string{"status"}, cli.ExitUsage, `presence-lab: unknown command "status"`},
		{"bad flag", []string{"demo", "--bogus"}, cli.ExitUsage, "flag provided but not defined"},
		{"short demo", []string{"demo", "--duration", "1s"}, cli.ExitUsage, "presence-lab: --duration 1s is too short"},
		{"short soak", []string{"soak", "--duration", "10s"}, cli.ExitUsage, "too short"},
		{"soak without actions", []string{"soak", "--rate", "0"}, cli.ExitUsage, "--rate 0"},
		{"soak with a stray argument", []string{"soak", "extra"}, cli.ExitUsage, `unexpected argument "extra"`},
	}
	for _, driver := range clitest.Drivers {
		cases = append(cases, struct {
			name string
			args []string
			code int
			want string
		}{"demo unreachable/" + string(driver), []string{"demo", "--url", "mongodb://" + addr, "--timeout", "1s", "--driver", string(driver)}, cli.ExitFailure, "cannot reach " + addr})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
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
	for _, cmd := range []string{"demo", "soak"} {
		r := runArgs(t, cmd, "--help")
		if r.Code != cli.ExitOK {
			t.Errorf("%s --help: exit %d", cmd, r.Code)
		}
		for _, want := range []string{"Usage: presence-lab " + cmd, "Exit codes: 0 success, 1 runtime failure, 2 usage error", "-seed", "-driver"} {
			if !strings.Contains(r.Stdout, want) {
				t.Errorf("%s --help does not say %q:\n%s", cmd, want, r.Stdout)
			}
		}
	}
	if r := runArgs(t, "help"); r.Code != cli.ExitOK || !strings.Contains(r.Stdout, "Exit codes") {
		t.Errorf("help: exit %d, stdout %q", r.Code, r.Stdout)
	}
}
