package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// UsageError marks a mistake in the command line, as opposed to a failure
// at run time: the program exits with ExitUsage.
type UsageError struct{ msg string }

func (e UsageError) Error() string { return e.msg }

// Usagef returns a UsageError.
func Usagef(format string, args ...interface{}) error {
	return UsageError{fmt.Sprintf(format, args...)}
}

// errFlagParse stands for a parse error the flag package already printed.
var errFlagParse = errors.New("bad flags")

// NewFlagSet returns a flag set for command of program whose --help prints
// summary, then the flags, then the exit codes.
func NewFlagSet(program, command, summary string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(command, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s %s [flags]\n\n%s\n\nFlags:\n", program, command, summary)
		fs.PrintDefaults()
		fmt.Fprintf(fs.Output(), "\nExit codes: 0 success, 1 runtime failure, 2 usage error.\n")
	}
	return fs
}

// ParseFlags parses args with fs, which prints its own errors and usage.
// Asked for help, it prints the usage to stdout, where a pager or grep
// expects it. Positional arguments are refused: every command takes flags
// only.
func ParseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) error {
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
		return Usagef("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}
