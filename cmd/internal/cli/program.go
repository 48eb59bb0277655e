// Package cli is what the project's commands share: a program of
// subcommands with the exit codes scripts rely on, one-line errors, flag
// parsing, and the connection to a server through either driver. It links
// no test database: the operator's command (cmd/presence) is built on it,
// and so is the one that runs the demo and the soak on the embedded
// database (cmd/presence-lab).
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// Exit codes, documented in every usage text; scripts rely on them.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// Command is one subcommand of a Program.
type Command struct {
	Name string
	// Run runs the command with its arguments (the command's name left
	// out). ctx ends long-running commands cleanly.
	Run func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// Program is a command line made of subcommands.
type Program struct {
	// Name is the program's name as users type it; it starts every error.
	Name string
	// Usage is printed for help, and for a missing or unknown command.
	Usage    string
	Commands []Command
}

// Main runs the program with the process's arguments, ending long-running
// commands on SIGINT or SIGTERM, and exits with the code.
func (p *Program) Main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := p.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Run runs the command line args (without the program name) and returns
// the exit code.
func (p *Program) Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, p.Usage)
		return ExitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, p.Usage)
		return ExitOK
	}
	for _, c := range p.Commands {
		if c.Name == name {
			return p.report(c.Run(ctx, rest, stdout, stderr), stderr)
		}
	}
	fmt.Fprintf(stderr, "%s: unknown command %q\n\n%s", p.Name, name, p.Usage)
	return ExitUsage
}

// report prints err on one line and returns the matching exit code.
func (p *Program) report(err error, stderr io.Writer) int {
	if err == nil {
		return ExitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	var usage UsageError
	if errors.As(err, &usage) {
		fmt.Fprintf(stderr, "%s: %v\n", p.Name, err)
		return ExitUsage
	}
	if errors.Is(err, errFlagParse) {
		// The flag package has already said what was wrong.
		return ExitUsage
	}
	fmt.Fprintf(stderr, "%s: %s\n", p.Name, OneLine(err))
	return ExitFailure
}

// OneLine renders err on one line, without the "presence: " that starts
// the library's errors: a program prints its own name in front.
func OneLine(err error) string {
	msg := strings.TrimPrefix(err.Error(), "presence: ")
	return strings.Join(strings.Fields(msg), " ")
}
