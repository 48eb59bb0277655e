package benchsuite

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	closeShared()
	os.Exit(code)
}
