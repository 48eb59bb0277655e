// Command presence shows and demonstrates the liveness that the presence
// library keeps in MongoDB.
//
//	presence demo                   run agents on the embedded database and watch them come and go
//	presence soak                   run agents through faults for minutes and check every watcher's reports
//	presence status --model UUID    list the keys of a model that are alive now
//	presence watch --model UUID     stream liveness changes until interrupted
//	presence prune --model UUID     remove superseded beings and old pings
//
// Every subcommand takes --help. Exit codes: 0 success, 1 runtime failure
// (unreachable server, missing collection, failed read or write), 2 usage
// error (unknown subcommand, bad flag, bad URL, invalid model UUID).
package main

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

// Exit codes, documented in the usage text; scripts rely on them.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

const usageText = `Usage: presence <command> [flags]

Commands:
  demo     run a few hundred agents on the embedded database and show
           how quickly watchers see them stop or die
  soak     run hundreds of agents through restarts, kills and database
           faults on the embedded database for a few minutes, and
           check every watcher's reports against the truth
  status   list the keys of a model that are alive now (read-only)
  watch    stream liveness changes of a model's keys until interrupted
  prune    remove superseded beings and old pings of a model (--dry-run
           only reports what would go)

Run "presence <command> --help" for the flags of a command.

Exit codes: 0 success, 1 runtime failure, 2 usage error.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the command line args (without the program name) and returns
// the exit code. ctx ends long-running commands (watch, demo) cleanly.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return exitUsage
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usageText)
		return exitOK
	case "demo":
		err = runDemo(ctx, rest, stdout, stderr)
	case "soak":
		err = runSoak(ctx, rest, stdout, stderr)
	case "status":
		err = runStatus(ctx, rest, stdout, stderr)
	case "watch":
		err = runWatch(ctx, rest, stdout, stderr)
	case "prune":
		err = runPrune(ctx, rest, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "presence: unknown command %q\n\n%s", cmd, usageText)
		return exitUsage
	}
	return report(err, stderr)
}

// usageError marks a mistake in the command line, as opposed to a failure
// at run time.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...interface{}) error {
	return usageError{fmt.Sprintf(format, args...)}
}

// report prints err on one line and returns the matching exit code.
func report(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	var usage usageError
	if errors.As(err, &usage) {
		fmt.Fprintf(stderr, "presence: %v\n", err)
		return exitUsage
	}
	if errors.Is(err, errFlagParse) {
		// The flag package has already said what was wrong.
		return exitUsage
	}
	fmt.Fprintf(stderr, "presence: %s\n", oneLine(err))
	return exitFailure
}

// oneLine renders err for report: on one line, and without the "presence: "
// that starts the library's errors, which report prints once.
func oneLine(err error) string {
	msg := strings.TrimPrefix(err.Error(), "presence: ")
	return strings.Join(strings.Fields(msg), " ")
}

// errFlagParse stands for a parse error the flag package already printed.
var errFlagParse = errors.New("bad flags")

// parseFlags parses args with fs, which prints its own errors and usage.
// Asked for help, it prints the usage to stdout, where a pager or grep
// expects it. Positional arguments are refused: every command takes flags
// only.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	for _, arg := range args {
		if arg == "--" {
			break
		}
		if arg == "-h" || arg == "-help" || arg == "--help" || arg == "--h" {
			errOut := fs.Output()
			fs.SetOutput(stdout)
			fs.Usage()
			fs.SetOutput(errOut)
			return flag.ErrHelp
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errFlagParse
	}
	if fs.NArg() > 0 {
		return usagef("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

// newFlagSet returns a flag set for a command whose --help prints summary,
// then the flags, then the exit codes.
func newFlagSet(name, summary string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: presence %s [flags]\n\n%s\n\nFlags:\n", name, summary)
		fs.PrintDefaults()
		fmt.Fprintf(fs.Output(), "\nExit codes: 0 success, 1 runtime failure, 2 usage error.\n")
	}
	return fs
}
