// Command presence-lab runs the presence library's workers on the embedded
// test database (FerretDB on SQLite, started in a temporary directory), to
// show and to stress what the library does.
//
//	presence-lab demo    run agents and watch them come and go
//	presence-lab soak    run agents through faults for minutes and check every watcher's reports
//
// It is a command of its own so that cmd/presence, which operators install
// and run against production, links no test database. The demo also runs
// against a real server (presence-lab demo --url ...).
//
// Every subcommand takes --help. Exit codes: 0 success, 1 runtime failure
// (a failed soak among them), 2 usage error.
package main

import (
	"flag"
	"io"

	"github.com/presence-go/presence/cmd/internal/cli"
)

// name is the program's name, as users type it.
const name = "presence-lab"

const usageText = `Usage: presence-lab <command> [flags]

Commands:
  demo     run a few hundred agents on the embedded database (or on
           --url) and show how quickly watchers see them stop or die
  soak     run hundreds of agents through restarts, kills and database
           faults on the embedded database for a few minutes, and
           check every watcher's reports against the truth

Run "presence-lab <command> --help" for the flags of a command.

Exit codes: 0 success, 1 runtime failure, 2 usage error.
`

// program is the command line of presence-lab.
var program = &cli.Program{
	Name:  name,
	Usage: usageText,
	Commands: []cli.Command{
		{Name: "demo", Run: runDemo},
		{Name: "soak", Run: runSoak},
	},
}

func main() { program.Main() }

// newFlagSet returns a flag set for command whose --help prints summary,
// then the flags, then the exit codes.
func newFlagSet(command, summary string, stderr io.Writer) *flag.FlagSet {
	return cli.NewFlagSet(name, command, summary, stderr)
}
