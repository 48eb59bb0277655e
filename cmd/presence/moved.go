package main

import (
	"context"
	"io"

	"github.com/presence-go/presence/cmd/internal/cli"
)

// moved stands for a command that was once part of presence and now lives
// in presence-lab, so that it can link the embedded test database without
// this binary doing so: it says where to find it, as a usage error.
func moved(command string) func(context.Context, []string, io.Writer, io.Writer) error {
	return func(context.Context, []string, io.Writer, io.Writer) error {
		return cli.Usagef("%s is in presence-lab, which runs it on the embedded test database: go run ./cmd/presence-lab %s (or make %s)",
			command, command, command)
	}
}
