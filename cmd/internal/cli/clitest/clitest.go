// Package clitest runs a cli.Program in tests, in the foreground or in the
// background with its output read a line at a time.
package clitest

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/presence-go/presence/cmd/internal/cli"
)

// Drivers are the values of --driver; the tests that connect run with
// each.
var Drivers = []cli.Driver{cli.Official, cli.Mgo}

// Result is what one run of a command line gave.
type Result struct {
	Code           int
	Stdout, Stderr string
}

// Run runs the command line args of p to its end.
func Run(t *testing.T, p *cli.Program, args ...string) Result {
	t.Helper()
	var stdout, stderr strings.Builder
	code := p.Run(context.Background(), args, &stdout, &stderr)
	return Result{code, stdout.String(), stderr.String()}
}

// Background is a command running until its context ends, its output
// read a line at a time.
type Background struct {
	// Out carries the command's output, a line at a time; it is closed
	// when the command has exited and its output is read.
	Out    <-chan string
	exit   chan int
	stderr strings.Builder // written by the command, read once it exited
}

// Start runs the command line args of p until ctx ends.
func Start(ctx context.Context, p *cli.Program, args []string) *Background {
	stdout, out := lines()
	b := &Background{Out: out, exit: make(chan int, 1)}
	go func() {
		b.exit <- p.Run(ctx, args, stdout, &b.stderr)
		stdout.Close()
	}()
	return b
}

// waitTimeout bounds every wait for a command in the background.
const waitTimeout = 20 * time.Second

// ExpectExit waits for the command to exit with cli.ExitOK, failing with
// notStopped after 20 s, and then reads what is left of its output.
func (b *Background) ExpectExit(t *testing.T, notStopped string) {
	t.Helper()
	select {
	case code := <-b.exit:
		if code != cli.ExitOK {
			t.Errorf("exit %d, stderr %q", code, b.stderr.String())
		}
	case <-time.After(waitTimeout):
		t.Fatal(notStopped)
	}
	for range b.Out {
	}
}

// ExpectLine waits for a line of the command's output containing want.
func (b *Background) ExpectLine(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		select {
		case line, ok := <-b.Out:
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
