// Command presence shows the liveness that the presence library keeps in
// MongoDB, and prunes what it no longer needs, on a real server.
//
//	presence status --model UUID    list the keys of a model that are alive now
//	presence watch --model UUID     stream liveness changes until interrupted
//	presence prune --model UUID     remove superseded beings and old pings
//
// Every subcommand takes --help. Exit codes: 0 success, 1 runtime failure
// (unreachable server, missing collection, failed read or write), 2 usage
// error (unknown subcommand, bad flag, bad URL, invalid model UUID).
//
// It links no test database: the demo and the soak, which run on the
// embedded one, are in cmd/presence-lab.
package main

import (
	"flag"
	"io"

	"github.com/presence-go/presence/cmd/internal/cli"
)

// name is the program's name, as users type it.
const name = "presence"

const usageText = `Usage: presence <command> [flags]

Commands:
  status   list the keys of a model that are alive now (read-only)
  watch    stream liveness changes of a model's keys until interrupted
  prune    remove superseded beings and old pings of a model (--dry-run
           only reports what would go)

Run "presence <command> --help" for the flags of a command. The demo and
the soak are in presence-lab (go run ./cmd/presence-lab).

Exit codes: 0 success, 1 runtime failure, 2 usage error.
`

// program is the command line of presence.
var program = &cli.Program{
	Name:  name,
	Usage: usageText,
	Commands: []cli.Command{
		{Name: "status", Run: runStatus},
		{Name: "watch", Run: runWatch},
		{Name: "prune", Run: runPrune},
		{Name: "demo", Run: moved("demo")},
		{Name: "soak", Run: moved("soak")},
	},
}

func main() { program.Main() }

// newFlagSet returns a flag set for command whose --help prints summary,
// then the flags, then the exit codes.
func newFlagSet(command, summary string, stderr io.Writer) *flag.FlagSet {
	return cli.NewFlagSet(name, command, summary, stderr)
}

// usagef returns a usage error (exit code 2) for a mistake in presence's
// own flags.
func usagef(format string, args ...interface{}) error {
	return cli.Usagef(format, args...)
}
