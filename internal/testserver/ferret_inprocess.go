//go:build !race

package testserver

import (
	"io"
	"os"
	"path/filepath"

	"github.com/presence-go/presence/internal/testserver/ferret"
)

// startFerret runs FerretDB in this process on the files under dir.
func startFerret(dir string) (ferretProcess, error) {
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	var log io.Writer = io.Discard
	if f := logOutput(); f != nil {
		log = f
	}
	return ferret.Start(data, log)
}
