package main

import (
	"errors"
	"slices"
	"testing"
)

// TestPassThatPrintsNothingFails checks that a pass whose go test passed
// but printed no result stops the run instead of leaving its figures
// "not measured": the simulator's pass did so once its seeds all passed,
// since go test hides a passing package's output without -v.
func TestPassThatPrintsNothingFails(t *testing.T) {
	sim := passes[len(passes)-1]
	if sim.label != "E" || !slices.Contains(sim.args, "-v") {
		t.Errorf("the simulator's pass runs go test %v, without -v: a clean run's result would be hidden", sim.args)
	}
	const result = "pkg: example.com/p\nBenchmarkSimulator/seeds=200-2\t200\t82000000 ns/op\t12.10 sim-hours/s\t0 failed-seeds\n"
	failed := errors.New("exit status 1")
	for _, c := range []struct {
		name    string
		finding bool
		out     string
		runErr  error
		ok      bool
	}{
		{"passed with a result", false, result, nil, true},
		{"passed with nothing printed", true, "ok  \texample.com/p\t16.780s\n", nil, false},
		{"failed, a finding with its result", true, result + "FAIL\n", failed, true},
		{"failed, a finding with nothing printed", true, "FAIL\n", failed, false},
		{"failed, not a finding", false, result + "FAIL\n", failed, false},
	} {
		err := judgePass(pass{label: "X", args: nil, finding: c.finding}, []byte(c.out), c.runErr)
		if (err == nil) != c.ok {
			t.Errorf("%s: judged %v, want ok=%v", c.name, err, c.ok)
		}
	}
}
