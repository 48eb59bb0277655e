// Package ferret runs FerretDB with the SQLite handler on a loopback port,
// configured the way the test server wants it. It is shared by the
// in-process test server and by the ferretserver command, which race-enabled
// test binaries run as a child process.
package ferret

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// Instance is one running FerretDB.
type Instance struct {
	addr   string
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned
}

// Start runs FerretDB on the SQLite files in dir (an existing directory),
// listening on a free loopback port. Its log at level warning and above
// goes to logOut.
func Start(dir string, logOut io.Writer) (*Instance, error) {
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Logger:    slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Handler:   "sqlite",
		SQLiteURL: sqliteURL(dir),
	})
	if err != nil {
		return nil, fmt.Errorf("starting FerretDB: %w", err)
	}
	// New has bound the listener already, so the URI is known before Run.
	u, err := url.Parse(f.MongoDBURI())
	if err != nil {
		return nil, fmt.Errorf("FerretDB address: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &Instance{addr: u.Host, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(in.done)
		f.Run(ctx)
	}()
	return in, nil
}

// sqliteURL points FerretDB at dir. Test data need not survive a machine
// crash, so SQLite skips fsync at every commit (synchronous off), which
// makes small writes several times faster on an ordinary disk. Stop shuts
// FerretDB down cleanly, so a restart loses nothing.
func sqliteURL(dir string) string {
	u := url.URL{Scheme: "file", Opaque: dir + "/"}
	u.RawQuery = url.Values{"_pragma": {"synchronous(off)"}}.Encode()
	return u.String()
}

// Addr returns the host:port FerretDB listens on.
func (in *Instance) Addr() string {
	return in.addr
}

// Stop stops FerretDB and returns once it has closed its listener, its
// connections and its database files.
func (in *Instance) Stop() {
	in.cancel()
	<-in.done
}
