package benchsuite

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/presence-go/presence/liveness"
	"github.com/presence-go/presence/mgostore"
	"github.com/presence-go/presence/mongostore"
)

// face is one of the library's two ways onto a database: the
// Juju-compatible one over github.com/juju/mgo/v2 (what package presence's
// constructors build from a *mgo.Collection) and mongostore over the
// official driver. Both drive the same engine, package liveness.
type face struct {
	name  string
	store func(tb testing.TB, d *database) liveness.Store
}

var faces = []face{
	{"mgo", func(tb testing.TB, d *database) liveness.Store {
		s, err := mgostore.New(d.mgo.C("presence"))
		if err != nil {
			tb.Fatal(err)
		}
		return s
	}},
	{"official", func(tb testing.TB, d *database) liveness.Store {
		return officialStore(tb, d.mongo.Collection("presence"))
	}},
}

// officialStore is the official driver's store of the base collection c.
func officialStore(tb testing.TB, c *mongo.Collection) liveness.Store {
	tb.Helper()
	s, err := mongostore.New(c)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}
