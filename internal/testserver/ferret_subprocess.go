//go:build race

package testserver

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// In a race-enabled test binary FerretDB runs as a child process built
// without the race detector: instrumented, FerretDB and its SQLite (C
// translated to Go) run 20 to 40 times slower, and a 1,500-statement bulk
// write exceeds any sensible socket timeout. The bridge and the code under
// test stay in the instrumented binary.

// ferretServerPackage is the command run as the child.
const ferretServerPackage = "github.com/presence-go/presence/internal/testserver/ferretserver"

// stopTimeout bounds how long Stop waits for the child to exit on its own.
const stopTimeout = 10 * time.Second

// childFerret is FerretDB running in a child process.
type childFerret struct {
	addr  string
	cmd   *exec.Cmd
	stdin io.WriteCloser // closing it tells the child to stop
}

// startFerret builds the ferretserver command into dir unless already
// there (the Go build cache makes that a link step after the first time)
// and runs it on the files under dir.
func startFerret(dir string) (ferretProcess, error) {
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	bin := filepath.Join(dir, "ferretserver")
	if _, err := os.Stat(bin); err != nil {
		if err := buildFerretServer(bin); err != nil {
			return nil, err
		}
	}

	cmd := exec.Command(bin, "-dir", data)
	if f := logOutput(); f != nil {
		cmd.Stderr = f
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("running ferretserver: %w", err)
	}
	child := &childFerret{cmd: cmd, stdin: stdin}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		child.Stop()
		return nil, fmt.Errorf("ferretserver did not start (said %q, %v); run with %s=1 to see its log", line, err, EnvVerbose)
	}
	child.addr = addr
	return child, nil
}

// buildFerretServer builds the ferretserver command, without the race
// detector, into bin.
func buildFerretServer(bin string) error {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("race-enabled tests build FerretDB with the go command: %w", err)
	}
	cmd := exec.Command(goTool, "build", "-o", bin, ferretServerPackage)
	// Build from this package's source directory, inside the module.
	if _, file, _, ok := runtime.Caller(0); ok {
		cmd.Dir = filepath.Dir(file)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building %s: %v\n%s", ferretServerPackage, err, out)
	}
	return nil
}

func (c *childFerret) Addr() string {
	return c.addr
}

// Stop closes the child's stdin, which makes it shut FerretDB down, and
// kills it if it has not exited after stopTimeout.
func (c *childFerret) Stop() {
	c.stdin.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.cmd.Wait()
	}()
	t := time.NewTimer(stopTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		c.cmd.Process.Kill()
		<-done
	}
}
