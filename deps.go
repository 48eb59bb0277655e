//go:build tools

package presence

import (
	_ "github.com/FerretDB/FerretDB/ferretdb"
	_ "github.com/juju/clock"
	_ "github.com/juju/errors"
	_ "github.com/juju/mgo/v2"
	_ "github.com/juju/names/v4"
	_ "go.uber.org/goleak"
	_ "gopkg.in/tomb.v2"
)
