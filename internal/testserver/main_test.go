package testserver_test

import (
	"testing"

	"github.com/presence-go/presence/internal/testserver"
)

func TestMain(m *testing.M) { testserver.Main(m) }
