package benchreport

import (
	"fmt"
	"strings"
)

// The commands' binaries (issue 18: the operator's binary links no test
// database). cmd/benchreport builds them at report time and prints each
// as a benchmark result, "BenchmarkBinarySize/cmd=NAME", of its size in
// bytes and the number of the test database's modules linked into it.
const binarySize = "BenchmarkBinarySize/cmd=%s"

// TestDatabaseModules are the modules of the embedded test database,
// which the operator's binary must not link.
var TestDatabaseModules = []string{"github.com/FerretDB/FerretDB", "modernc.org/sqlite", "github.com/jackc/pgx/v5"}

// Binaries are the commands built: what operators install, and the demo
// and the soak, which run the embedded test database.
var Binaries = []string{"presence", "presence-lab"}

// SizeBeforeSplit is the size of cmd/presence while it carried the demo
// and the soak (FerretDB, SQLite and pgx linked in), before they moved to
// cmd/presence-lab (commit d774ef4): go build on linux/amd64 with Go 1.26,
// as the README states.
const SizeBeforeSplit = 43699102

func binaryTargets(run *Run) []Verdict {
	name := fmt.Sprintf(binarySize, "presence")
	v := Verdict{Issue: 18, Target: fmt.Sprintf("The operator's binary links no test database (FerretDB, SQLite, pgx); its size before and after the split (%s bytes before)", count(SizeBeforeSplit)),
		Benchmark: fmt.Sprintf(binarySize, "*"), Status: NotMeasured, Measured: "—"}
	size, ok1 := run.Metric(name, "bytes")
	modules, ok2 := run.Metric(name, "test-db-modules")
	if !ok1 || !ok2 {
		return []Verdict{v}
	}
	lab := metric(run, fmt.Sprintf(binarySize, "presence-lab"), "bytes", bytesOf)
	v.Measured = fmt.Sprintf("presence: %s, %g modules of the test database linked (before the split: %s); presence-lab: %s",
		bytesOf(size), modules, bytesOf(SizeBeforeSplit), lab)
	v.Status = statusOf(modules == 0)
	return []Verdict{v}
}

// writeBinaries writes the sizes of the commands' binaries.
func writeBinaries(b *strings.Builder, run *Run) {
	b.WriteString("## The commands' binaries\n\n")
	fmt.Fprintf(b, "`cmd/presence` (status, watch, prune) is what operators install and run against production; `cmd/presence-lab` (the demo and the soak) runs the embedded test database. Both built with `go build` and no flags by the report run itself, which reads each binary's size and the modules linked into it (%s). The size of `presence` before the demo and the soak moved out of it (commit d774ef4) was measured the same way, on linux/amd64 with Go 1.26, and is not measured again here.\n\n",
		cite(run, fmt.Sprintf(binarySize, "*")))
	b.WriteString("| Binary | Size | modules of the test database linked (FerretDB, SQLite, pgx) |\n|---|---|---|\n")
	for _, cmd := range Binaries {
		name := fmt.Sprintf(binarySize, cmd)
		fmt.Fprintf(b, "| `%s` | %s | %s |\n", cmd, metric(run, name, "bytes", bytesOf), metric(run, name, "test-db-modules", whole))
	}
	fmt.Fprintf(b, "| `presence` before the split (reference) | %s | FerretDB, SQLite and pgx, as the README states |\n\n", bytesOf(SizeBeforeSplit))
}

// BinaryResult renders the measure of one command's binary as go test
// -bench prints a result, after the package header: its size in bytes and
// how many of TestDatabaseModules are linked into it.
func BinaryResult(cmd, pkg string, size int64, linked int) string {
	return fmt.Sprintf("pkg: %s\n"+binarySize+"\t1\t%d bytes\t%d test-db-modules\n", pkg, cmd, size, linked)
}

// bytesOf writes a size in bytes, with thousands separators.
func bytesOf(x float64) string { return count(int(x+0.5)) + " bytes" }
