// Command ferretserver runs FerretDB for the test server in a process of
// its own. Race-enabled test binaries use it because FerretDB and its
// SQLite, built with the race detector, run tens of times slower, too slow
// for the storage tests; the code under test stays instrumented.
//
// It prints "listening <host:port>" on stdout once ready and stops cleanly
// when its stdin closes, so it never outlives the test binary that started it.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/presence-go/presence/internal/testserver/ferret"
)

func main() {
	dir := flag.String("dir", "", "directory holding the SQLite files (must exist)")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "ferretserver: -dir is required")
		os.Exit(2)
	}
	in, err := ferret.Start(*dir, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ferretserver:", err)
		os.Exit(1)
	}
	fmt.Printf("listening %s\n", in.Addr())
	io.Copy(io.Discard, os.Stdin)
	in.Stop()
}
