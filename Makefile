# Targets need nothing but Go: the test database (FerretDB) is built from
# the module cache and started by the tests themselves.

STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all test lint bench demo soak sim sim-short

all: lint test

# Race-enabled test binaries run FerretDB as a child process built without
# the race detector (see internal/testserver); building it first fills the
# build cache once instead of in every test binary at the same time.
test:
	go build -o /dev/null ./internal/testserver/ferretserver
	go test -race -timeout 15m ./...

lint:
	@unformatted="$$(gofmt -l .)"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	go vet ./...
	go vet -tags presence_mutants ./...
	go run $(STATICCHECK) ./...

# Runs the benchmarks (about half an hour on two cores; the database ones
# are in internal/benchsuite), two hundred seeds of the simulator for its
# speed, and builds the commands for their sizes; writes BENCHMARKS.md,
# benchmarks.txt (raw, for benchstat) and benchmarks-sync.svg.
bench:
	go run ./cmd/benchreport

# Runs a few hundred agents on the embedded database and shows how quickly
# watchers see them stop or die; ends within a minute with a summary. The
# demo and the soak are in cmd/presence-lab, apart from the operator's
# cmd/presence, so that only they link the embedded database.
demo:
	go run ./cmd/presence-lab demo

# Runs hundreds of agents for three minutes through restarts, kills and
# database faults, and checks every watcher's reports against which
# pingers run; fails on any false death or flap. Not part of make test.
soak:
	go run ./cmd/presence-lab soak

# Runs the deterministic simulator: a thousand seeds, each an hour of
# several controllers on the in-memory store with faults and clock steps,
# every promise checked (a few minutes on two cores); then the mutation
# test, which puts back each defect found so far and checks that the
# simulator reports it. A failing seed prints the command that replays it.
sim:
	go test ./internal/sim -run 'TestSim$$' -sim.seeds=1000 -timeout 30m -v
	go test -tags presence_mutants ./internal/sim -run TestSimFindsEveryDefect -timeout 30m -v

# The short run CI makes: forty seeds, and the mutation test on twenty.
sim-short:
	go test ./internal/sim -run 'TestSim$$' -sim.seeds=40 -timeout 10m
	go test -tags presence_mutants ./internal/sim -run TestSimFindsEveryDefect -sim.mutant.seeds=20 -timeout 10m
