package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/presence-go/presence/cmd/internal/cli"
	"github.com/presence-go/presence/liveness"
)

// connFlags are the flags every command that reads a database shares.
type connFlags struct {
	driver  cli.Driver
	url     string
	db      string
	base    string
	model   string
	period  time.Duration
	timeout time.Duration
}

func (c *connFlags) register(fs *flag.FlagSet) {
	cli.RegisterDriver(fs, &c.driver)
	fs.StringVar(&c.url, "url", "", "MongoDB URL of the server, e.g. mongodb://127.0.0.1:27017 (required)")
	fs.StringVar(&c.db, "db", "presence", "database that holds the presence collections")
	fs.StringVar(&c.base, "base", "presence", "base collection: the library uses BASE.seqs, BASE.beings and BASE.pings")
	fs.StringVar(&c.model, "model", "", "model UUID (required)")
	fs.DurationVar(&c.period, "period", 30*time.Second, "slot period the model's pingers use (whole seconds)")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "how long to wait for the server")
}

// check validates the flags before any connection is made.
func (c *connFlags) check() error {
	if c.url == "" {
		return usagef("--url is required")
	}
	if err := checkModel(c.model); err != nil {
		return err
	}
	if c.db == "" || c.base == "" {
		return usagef("--db and --base must not be empty")
	}
	if c.period < time.Second || c.period%time.Second != 0 {
		return usagef("--period %v: must be a whole number of seconds, at least 1s", c.period)
	}
	if c.timeout <= 0 {
		return usagef("--timeout %v: must be positive", c.timeout)
	}
	return nil
}

// checkModel applies the rule of the library's liveness face: a model
// UUID in canonical form. It is checked here, before connecting, so that a
// bad id is a usage error rather than a watcher that dies.
func checkModel(model string) error {
	if model == "" {
		return usagef("--model is required: the UUID of the model")
	}
	if problem := liveness.ModelUUIDProblem(model); problem != "" {
		return usagef("invalid --model: %s", problem)
	}
	return nil
}

// target is an open connection to the presence collections of one model:
// the store the library's workers run on, whichever the driver.
type target struct {
	conn    cli.Conn
	store   liveness.Store
	model   string
	period  time.Duration
	timeout time.Duration
}

func (t *target) Close() { t.conn.Close() }

// options returns the worker options the commands share: the model's
// period, and the --timeout for every database operation.
func (t *target) options() []liveness.Option {
	return []liveness.Option{liveness.WithPeriod(t.period), liveness.WithOperationTimeout(t.timeout)}
}

// opContext returns a context that ends after --timeout, for one database
// operation of the command's own.
func (t *target) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, t.timeout)
}

// open connects to the server and checks that the collections the commands
// read exist, so that a wrong --db or --base is reported as such rather
// than as a model with nothing alive.
func (c *connFlags) open(ctx context.Context) (*target, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	cn, err := cli.Dial(ctx, c.driver, c.url, c.db, c.timeout)
	if err != nil {
		return nil, err
	}
	listCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	names, err := cn.Collections(listCtx)
	if err != nil {
		cn.Close()
		return nil, fmt.Errorf("cannot list the collections of database %q on %s: %v", c.db, cn.Addr(), err)
	}
	// The store names the collections it reads, as "<db>.<collection>".
	store := cn.Store(c.base)
	have := make(map[string]bool, len(names))
	for _, name := range names {
		have[c.db+"."+name] = true
	}
	for _, name := range []string{store.Names().Beings, store.Names().Pings} {
		if !have[name] {
			cn.Close()
			return nil, fmt.Errorf("collection %s does not exist on %s (wrong --db or --base?)", name, cn.Addr())
		}
	}
	return &target{
		conn:    cn,
		store:   store,
		model:   c.model,
		period:  c.period,
		timeout: c.timeout,
	}, nil
}
